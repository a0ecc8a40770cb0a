// Where vhost-user sockets may be: the rules port control and the start-up
// checks apply before a path reaches the dataplane (which applies them again,
// where the socket is made: dataplane/src/sockpath.c).
import fs from 'node:fs';
import path from 'node:path';
import { cEscape } from './text-format.js';

/** Bytes of a path a unix socket address holds (sun_path without its NUL). */
export const SUN_PATH_MAX = 107;
/** Directories the dataplane takes (--vhost-dir). */
export const MAX_SOCKET_DIRS = 16;

/** The lexical rule a path breaks (absolute, no ./.., no control character, fits sun_path), or undefined. */
export function pathRuleBroken(p: string): string | undefined {
  if (!p.startsWith('/')) return 'is not absolute';
  if (/[\x00-\x1f\x7f]/.test(p)) return 'holds a control character';
  if (Buffer.byteLength(p) > SUN_PATH_MAX) return `does not fit a unix socket address (${SUN_PATH_MAX} bytes at most)`;
  const parts = p.slice(1).split('/');
  for (const [i, part] of parts.entries()) {
    if (part === '') return i === parts.length - 1 ? 'ends with /' : 'has an empty component (//)';
    if (part === '.' || part === '..') return 'has a . or .. component';
  }
  return undefined;
}

/** A path for a message: control characters escaped, as C would write them. */
export function shownPath(p: string): string {
  return cEscape(p);
}

function realDir(dir: string): string | undefined {
  try {
    return fs.realpathSync(dir);
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with a vhost-user socket path port control was given, or
 * undefined: the lexical rules, then its directory, symlinks resolved, must
 * be one of the allowed ones (resolved too), and the socket itself must not
 * be a symlink.
 */
export function vhostPathProblem(p: string, allowedDirs: readonly string[]): string | undefined {
  const rule = pathRuleBroken(p);
  if (rule) return `vhost-user socket path ${shownPath(p)} ${rule}`;
  const dir = path.dirname(p);
  const real = realDir(dir);
  if (real === undefined) return `vhost-user socket ${p}: its directory ${dir} does not exist`;
  if (!allowedDirs.some((a) => realDir(a) === real))
    return `vhost-user socket ${p}: its directory (${real}) is not one of the allowed directories ` +
      `(VIO4WD_VHOST_SOCKET_DIRS, VIRTIOFWD_SOCKET_DIR): ${allowedDirs.join(', ')}`;
  try {
    if (fs.lstatSync(p).isSymbolicLink()) return `vhost-user socket ${p} is a symbolic link`;
  } catch {
    // Not there yet: the dataplane creates it (server mode) or QEMU does (client mode).
  }
  return undefined;
}
