// When to restart a dataplane that died, and when to stop trying: one
// policy, pure (it is given the times; it keeps no clock and no timer).
//
// A run that ends sooner than `stableMs` after the relays were restored is
// unstable. Consecutive unstable runs, and consecutive failed starts, wait
// longer each time (none after a stable run, then `firstDelayMs` doubling up
// to `maxDelayMs`); `giveUpAfter` of them in a row and the supervisor stops.

export interface RestartLimits {
  stableMs: number;
  firstDelayMs: number;
  maxDelayMs: number;
  giveUpAfter: number;
}

export const RESTART_LIMITS: RestartLimits = { stableMs: 1000, firstDelayMs: 250, maxDelayMs: 8000, giveUpAfter: 6 };

export type RestartDecision = { giveUp: false; delayMs: number } | { giveUp: true; count: number };

export class RestartPolicy {
  private unstable = 0;

  constructor(readonly limits: RestartLimits = RESTART_LIMITS) {}

  /** The wait before attempt n of a row (n = 0: the first, at once). */
  delay(n: number): number {
    return n <= 0 ? 0 : Math.min(this.limits.maxDelayMs, this.limits.firstDelayMs * 2 ** (n - 1));
  }

  /** The dataplane died `ranMs` after it was last ready. */
  exited(ranMs: number): RestartDecision {
    this.unstable = ranMs < this.limits.stableMs ? this.unstable + 1 : 0;
    if (this.unstable >= this.limits.giveUpAfter) return { giveUp: true, count: this.unstable };
    return { giveUp: false, delayMs: this.delay(this.unstable) };
  }

  /** Start attempt `failures` of a row failed (1 for the first). */
  startFailed(failures: number): RestartDecision {
    if (failures >= this.limits.giveUpAfter) return { giveUp: true, count: failures };
    return { giveUp: false, delayMs: this.delay(failures) };
  }
}
