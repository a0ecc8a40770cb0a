// A ZeroMQ REP endpoint: one frame in, one frame out, always. A frame that
// does not decode gets the endpoint's error reply; the loop never stops on
// a bad request.
import fs from 'node:fs';
import * as zmq from 'zeromq';
import { WireError, type Logger } from '@vio4wd/common';

export interface Endpoint<Req, Rep> {
  name: string;
  decode(frame: Buffer): Req;
  handle(req: Req): Promise<Rep>;
  encode(rep: Rep): Buffer;
  /** The reply to a frame that is not a valid request. */
  errorReply(reason: string): Rep;
}

/* Undecodable requests logged per window; the rest are counted in one line. */
const BAD_LOG_WINDOW_MS = 10000;
const BAD_LOG_MAX = 5;

export class ZmqServer<Req, Rep> {
  private readonly sock = new zmq.Reply({ linger: 0 });
  private loop: Promise<void> | null = null;
  private badWindowStart = 0;
  private badInWindow = 0;

  constructor(
    readonly address: string,
    private readonly endpoint: Endpoint<Req, Rep>,
    private readonly log: Logger,
  ) {}

  async start(group?: number): Promise<void> {
    if (this.address.startsWith('ipc://')) {
      const path = this.address.slice('ipc://'.length);
      fs.rmSync(path, { force: true });
      await this.sock.bind(this.address);
      fs.chmodSync(path, 0o660);
      if (group !== undefined) fs.chownSync(path, 0, group);
    } else {
      await this.sock.bind(this.address);
    }
    this.log.info(`${this.endpoint.name} endpoint serving on ${this.address}`);
    this.loop = this.serve();
  }

  private async serve(): Promise<void> {
    for await (const [frame] of this.sock) {
      const reply = await this.answer(frame ?? Buffer.alloc(0));
      await this.sock.send(reply);
    }
  }

  private async answer(frame: Buffer): Promise<Buffer> {
    let req: Req;
    try {
      req = this.endpoint.decode(frame);
    } catch (e) {
      const reason = e instanceof WireError ? e.message : `undecodable request: ${String(e)}`;
      this.logBad(`${this.endpoint.name}: bad request (${frame.length} bytes): ${reason}`);
      return this.endpoint.encode(this.endpoint.errorReply(reason));
    }
    try {
      return this.endpoint.encode(await this.endpoint.handle(req));
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.log.error(`${this.endpoint.name}: request failed: ${reason}`);
      return this.endpoint.encode(this.endpoint.errorReply(reason));
    }
  }

  /** A client sending garbage in a loop must not flood the journal. */
  private logBad(line: string): void {
    const now = Date.now();
    if (now - this.badWindowStart >= BAD_LOG_WINDOW_MS) {
      const unlogged = this.badInWindow - BAD_LOG_MAX;
      if (unlogged > 0)
        this.log.warning(`${this.endpoint.name}: ${unlogged} more bad request(s) in ${Math.round((now - this.badWindowStart) / 1000)} s, not logged one by one`);
      this.badWindowStart = now;
      this.badInWindow = 0;
    }
    if (++this.badInWindow <= BAD_LOG_MAX) this.log.warning(line);
    else if (this.badInWindow === BAD_LOG_MAX + 1)
      this.log.warning(`${this.endpoint.name}: more bad requests; logging at most ${BAD_LOG_MAX} per ${BAD_LOG_WINDOW_MS / 1000} s`);
  }

  async stop(): Promise<void> {
    this.sock.close();
    await this.loop?.catch(() => undefined);
    if (this.address.startsWith('ipc://')) fs.rmSync(this.address.slice('ipc://'.length), { force: true });
  }
}
