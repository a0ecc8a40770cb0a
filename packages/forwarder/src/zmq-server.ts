// A ZeroMQ endpoint for REQ clients: one frame in, one frame out, always. A
// frame that does not decode gets the endpoint's error reply; the loop never
// stops on a bad request. A ROUTER socket, so that one slow request (a stats
// delay, a relay being plugged) does not hold up the others: requests are
// answered concurrently, or one after another in arrival order where the
// endpoint says so (port control), with a bound on those in progress.
import fs from 'node:fs';
import * as zmq from 'zeromq';
import { ipcPath, WireError, type Logger } from '@vio4wd/common';
import { LogLimiter } from './log-limit.js';

/** The largest request frame an endpoint reads (a bond of 8 VFs with long names is under 1 KiB). */
export const MAX_REQUEST_BYTES = 65536;

export interface ZmqEndpoint<Req, Rep> {
  name: string;
  decode(frame: Buffer): Req;
  handle(req: Req): Promise<Rep>;
  encode(rep: Rep): Buffer;
  /** The reply to a frame that is not a valid request. */
  errorReply(reason: string): Rep;
  /** Handle requests one at a time, in arrival order (default: concurrently). */
  serial?: boolean;
  /** The endpoint, for metrics (port_control, stats, ...). */
  key?: string;
  /** A request's operation and the reply's result, for metrics; req: undefined when it did not decode. */
  label?(req: Req | undefined, rep: Rep): RequestLabels;
}

export interface RequestLabels {
  op: string;
  result: string;
}

/** Told of every request answered: which endpoint, what, and how long it took (queueing on a serial endpoint included). */
export type RequestObserver = (endpoint: string, labels: RequestLabels, seconds: number) => void;

/** Requests in progress at once on an endpoint; more wait, unread, in the socket's queue. */
export const MAX_IN_FLIGHT = 64;

export class ZmqServer<Req, Rep> {
  // No request of any endpoint comes near 64 KiB; a bigger frame closes its connection unread.
  private readonly sock = new zmq.Router({ linger: 0, maxMessageSize: MAX_REQUEST_BYTES });
  private loop: Promise<void> | null = null;
  /** zeromq.js allows one send at a time: replies queue here. */
  private sending: Promise<unknown> = Promise.resolve();
  /** The end of the serial endpoint's queue of requests. */
  private order: Promise<unknown> = Promise.resolve();
  private inFlight = 0;
  private slotFreed: (() => void) | null = null;
  private closed = false;
  private readonly badLog: LogLimiter;

  constructor(
    readonly address: string,
    private readonly endpoint: ZmqEndpoint<Req, Rep>,
    private readonly log: Logger,
    /** Called if the endpoint stops serving on its own (the socket failed). */
    private readonly onFatal: (why: string) => void,
    private readonly observe?: RequestObserver,
  ) {
    this.badLog = new LogLimiter(log, `${endpoint.name}: bad requests`);
  }

  async start(group?: number): Promise<void> {
    const path = ipcPath(this.address);
    if (path !== undefined) {
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
    for await (const msg of this.sock) {
      // A REQ client's envelope: its identity, an empty delimiter, the request (its first
      // frame, as a REP socket would read it, if the client sent more).
      const [id, delimiter, frame] = msg;
      if (!id || delimiter?.length !== 0) {
        this.badLog.warning(`${this.endpoint.name}: a message without a REQ client's envelope (ignored: it expects no reply)`);
        continue;
      }
      while (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => (this.slotFreed = resolve));
      this.inFlight++;
      const request = frame ?? Buffer.alloc(0);
      let reply: Promise<Buffer>;
      if (this.endpoint.serial) {
        reply = this.order.then(() => this.answer(request));
        this.order = reply.catch(() => undefined);
      } else {
        reply = this.answer(request);
      }
      const sent = reply.then((r) => {
        const p = this.sending.then(() => this.sock.send([id, Buffer.alloc(0), r]));
        this.sending = p.catch(() => undefined);
        return p;
      });
      void sent.then(
        () => this.release(),
        (e: unknown) => {
          this.release();
          // A reply that cannot be sent: the socket is closing, or failed (serve's loop ends then).
          if (!this.closed) this.log.warning(`${this.endpoint.name}: cannot send a reply: ${e instanceof Error ? e.message : String(e)}`);
        },
      );
    }
  }

  private release(): void {
    this.inFlight--;
    this.slotFreed?.();
    this.slotFreed = null;
  }

  private async answer(frame: Buffer): Promise<Buffer> {
    const started = process.hrtime.bigint();
    const { req, rep } = await this.reply(frame);
    const { key, label } = this.endpoint;
    if (this.observe && key && label) this.observe(key, label(req, rep), Number(process.hrtime.bigint() - started) / 1e9);
    return this.endpoint.encode(rep);
  }

  private async reply(frame: Buffer): Promise<{ req: Req | undefined; rep: Rep }> {
    let req: Req;
    try {
      req = this.endpoint.decode(frame);
    } catch (e) {
      const reason = e instanceof WireError ? e.message : `undecodable request: ${String(e)}`;
      this.badLog.warning(`${this.endpoint.name}: bad request (${frame.length} bytes): ${reason}`);
      return { req: undefined, rep: this.endpoint.errorReply(reason) };
    }
    try {
      return { req, rep: await this.endpoint.handle(req) };
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.log.error(`${this.endpoint.name}: request failed: ${reason}`);
      return { req, rep: this.endpoint.errorReply(reason) };
    }
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.sock.close();
    await this.loop?.catch(() => undefined);
    const path = ipcPath(this.address);
    if (path !== undefined) fs.rmSync(path, { force: true });
  }
}
