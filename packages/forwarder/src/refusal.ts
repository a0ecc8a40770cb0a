// A request refused with an errno and a reason, as the original daemon
// reports them (error_code, error_code_source).
import { DataplaneError, DataplaneTimeout } from '@vio4wd/common';

export const ENOENT = 2;
export const EACCES = 13;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ENOTSUP = 95;
export const ETIMEDOUT = 110;

export class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The errno and reason of a refusal, ours or the dataplane's; anything else is rethrown. */
export function refusalOf(e: unknown): { code: number; reason: string } {
  if (e instanceof Refusal) return { code: e.code, reason: e.message };
  if (e instanceof DataplaneError) return { code: e.errno, reason: `dataplane: ${e.message}` };
  if (e instanceof DataplaneTimeout)
    return { code: ETIMEDOUT, reason: `${e.message} (VIO4WD_DATAPLANE_TIMEOUT_MS); should it carry the request out later, it is undone` };
  throw e;
}
