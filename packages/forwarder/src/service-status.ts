// What systemd is told (Type=notify, NotifyAccess=all): READY=1 once the
// endpoints serve, and a Status= line that follows the relay count. The
// dataplane sends the datagrams: Node.js has no unix datagram sockets.
import type { DataplaneClient, Logger } from '@vio4wd/common';

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class ServiceStatus {
  private ready = false;

  constructor(
    private readonly text: () => string,
    private readonly client: () => DataplaneClient | null,
    private readonly log: Logger,
    private readonly notifySocket = process.env.NOTIFY_SOCKET,
  ) {}

  /** READY=1 with the status line; a failure is logged, never thrown. */
  async announce(): Promise<void> {
    const status = this.text();
    this.ready = true;
    this.log.notice(`ready: ${status}`);
    const client = this.client();
    if (!this.notifySocket || !client) return;
    try {
      if (await client.notifyReady(status)) this.log.debug('readiness reported to the service manager');
      else this.log.warning('NOTIFY_SOCKET is set but the dataplane did not see it; readiness not reported');
    } catch (e) {
      this.log.error(`cannot report readiness to the service manager: ${errorText(e)}`);
    }
  }

  /**
   * Once ready, Status= again (with READY=1: harmless to a running service).
   * Best effort: a dataplane that is restarting is told at its next ready.
   */
  refresh(): void {
    const client = this.client();
    if (!this.notifySocket || !this.ready || !client) return;
    client.notifyReady(this.text()).catch((e: unknown) => this.log.debug(`Status= not updated: ${errorText(e)}`));
  }

  /** No more updates (stopping). */
  stop(): void {
    this.ready = false;
  }
}
