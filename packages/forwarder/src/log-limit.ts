// Warnings a client can trigger at will (bad or refused requests) are
// logged a few per window; the rest are counted in one line at the end of
// the window, so that a client in a loop cannot flood the journal.
import type { Logger } from '@vio4wd/common';

/** Refusals logged per window: a few a day in normal operation, so all of them. */
export const REFUSALS_LOGGED = 20;

export class LogLimiter {
  private windowStart = 0;
  private inWindow = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    /** What is counted, e.g. "port control: bad or refused request(s)". */
    private readonly what: string,
    private readonly max = 5,
    private readonly windowMs = 10000,
  ) {}

  warning(line: string): void {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = now;
    }
    if (++this.inWindow <= this.max) {
      this.log.warning(line);
    } else if (!this.timer) {
      this.log.warning(`${this.what}: more than ${this.max} in ${this.windowMs / 1000} s; the rest are counted, not logged`);
      this.timer = setTimeout(() => this.flush(), this.windowStart + this.windowMs - now);
      this.timer.unref();
    }
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const unlogged = this.inWindow - this.max;
    if (unlogged > 0) this.log.warning(`${this.what}: ${unlogged} more in the last ${this.windowMs / 1000} s, not logged one by one`);
    this.inWindow = 0;
    this.windowStart = Date.now();
  }
}
