// A ZeroMQ REP endpoint: one frame in, one frame out, always. A frame that
// does not decode gets the endpoint's error reply; the loop never stops on
// a bad request.
import fs from 'node:fs';
import * as zmq from 'zeromq';
import { WireError, type Logger } from '@vio4wd/common';
import { LogLimiter } from './log-limit.js';

export interface Endpoint<Req, Rep> {
  name: string;
  decode(frame: Buffer): Req;
  handle(req: Req): Promise<Rep>;
  encode(rep: Rep): Buffer;
  /** The reply to a frame that is not a valid request. */
  errorReply(reason: string): Rep;
}

export class ZmqServer<Req, Rep> {
  private readonly sock = new zmq.Reply({ linger: 0 });
  private loop: Promise<void> | null = null;
  private closed = false;
  private readonly badLog: LogLimiter;

  constructor(
    readonly address: string,
    private readonly endpoint: Endpoint<Req, Rep>,
    private readonly log: Logger,
    /** Called if the endpoint stops serving on its own (the socket failed). */
    private readonly onFatal: (why: string) => void,
  ) {
    this.badLog = new LogLimiter(log, `${endpoint.name}: bad requests`);
  }

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
    this.loop = this.serve().then(
      () => {
        if (!this.closed) this.onFatal(`${this.endpoint.name} endpoint stopped serving`);
      },
      (e: unknown) => {
        if (!this.closed) this.onFatal(`${this.endpoint.name} endpoint failed: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
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
      this.badLog.warning(`${this.endpoint.name}: bad request (${frame.length} bytes): ${reason}`);
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

  async stop(): Promise<void> {
    this.closed = true;
    this.sock.close();
    await this.loop?.catch(() => undefined);
    if (this.address.startsWith('ipc://')) fs.rmSync(this.address.slice('ipc://'.length), { force: true });
  }
}
