// Relays of the desired state that the dataplane could not take (a VF not
// bound yet, say), each with the reason, tried again on a timer until each
// is plugged or withdrawn. The timer runs only while there is one to try.

/** How often relays that could not be plugged are tried again. */
export const RETRY_MS = 5000;

export class UnpluggedRelays {
  private readonly why = new Map<number, string>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;

  constructor(
    /** Tries relay id again; it calls mark() or clear() with the outcome. */
    private readonly retry: (id: number) => Promise<void>,
    readonly periodMs = RETRY_MS,
  ) {}

  /** Every relay waiting, with why it is not plugged. */
  get reasons(): ReadonlyMap<number, string> {
    return this.why;
  }

  has(id: number): boolean {
    return this.why.has(id);
  }

  /** Records that relay id could not be plugged; true if the reason is new (worth a log line). */
  mark(id: number, why: string): boolean {
    const fresh = this.why.get(id) !== why;
    this.why.set(id, why);
    if (!this.stopped) this.timer ??= setInterval(() => void this.tick(), this.periodMs);
    return fresh;
  }

  /** The relay is plugged or gone; true if it was waiting. */
  clear(id: number): boolean {
    return this.why.delete(id);
  }

  /** One round of retries; rounds never overlap. */
  async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      for (const id of [...this.why.keys()]) {
        if (this.stopped) return;
        await this.retry(id);
      }
      if (this.why.size === 0) this.stopTimer();
    } finally {
      this.running = false;
    }
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  stop(): void {
    this.stopped = true;
    this.stopTimer();
  }
}
