// Errors from the system (fs, net, zeromq): their code, read without
// instanceof, which fails for errors made in another realm (as under jest).

/** The error's system code (ENOENT, EAGAIN, ...), or undefined. */
export function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
