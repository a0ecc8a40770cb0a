// Client of the dataplane control socket. One connection, one request in
// flight; replies are validated before anyone uses them.
import net from 'node:net';
import { z } from 'zod';
import {
  addReplySchema,
  encodeRequest,
  errorReplySchema,
  helloReplySchema,
  notifyReplySchema,
  okReplySchema,
  statsReplySchema,
  type AddRelayRequest,
  type DataplaneRelay,
  type StatsReply,
} from './dataplane-protocol.js';

/** The dataplane refused a request; errno and message are its own. */
export class DataplaneError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

/**
 * The dataplane did not answer within the time-out. The request may still
 * be carried out: the client waits for the late reply before it sends
 * anything else, and then undoes what the caller was told had failed.
 */
export class DataplaneTimeout extends Error {
  constructor(
    readonly op: string,
    readonly timeoutMs: number,
  ) {
    super(`dataplane did not answer '${op}' within ${timeoutMs} ms`);
  }
}

/** What a request came to: its reply, or why there is none. */
export type Outcome = { ok: true; reply: unknown } | { ok: false; error: Error };

/**
 * After a time-out, what to do with the late outcome, using the line
 * (send) before any queued request gets it.
 */
type LateHandler = (outcome: Outcome, send: (fields: Fields) => Promise<unknown>) => Promise<void> | void;

type Fields = Record<string, string | number>;

export interface DataplaneClientOptions {
  /** How long a caller waits for a reply (the supervisor: VIO4WD_DATAPLANE_TIMEOUT_MS). */
  timeoutMs?: number;
  /**
   * What happened after a time-out (a late reply and what was done about
   * it; a dataplane that did not answer even within twice the time-out).
   */
  report?: (level: 'warning' | 'error', message: string) => void;
  /**
   * No reply even within twice the time-out: the connection is closed and
   * every queued request fails; the owner restarts the dataplane.
   */
  onStuck?: (op: string) => void;
}

export class DataplaneClient {
  private sock: net.Socket | null = null;
  private buf = Buffer.alloc(0);
  private pending: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  /** Why the connection went away, for the error of the next call. */
  private lost = 'never connected';
  readonly timeoutMs: number;

  constructor(
    readonly path: string,
    opts: number | DataplaneClientOptions = {},
  ) {
    this.opts = typeof opts === 'number' ? { timeoutMs: opts } : opts;
    this.timeoutMs = this.opts.timeoutMs ?? 10000;
  }

  private readonly opts: DataplaneClientOptions;

  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const s = net.createConnection(this.path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve();
      });
      s.once('error', reject);
      s.on('data', (d) => this.onData(d));
      s.on('error', (e) => this.fail(e));
      s.on('close', () => this.fail(new Error('dataplane control connection closed')));
      this.sock = s;
    });
  }

  close(): void {
    this.sock?.destroy();
    this.sock = null;
  }

  /** The connection is gone: the first reason is kept (an error, then its close). */
  private fail(e: Error): void {
    if (this.sock === null && this.pending === null) return;
    this.lost = e.message;
    const p = this.pending;
    this.pending = null;
    this.sock = null;
    p?.reject(e);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (this.buf.length < 4) return;
    const len = this.buf.readUInt32BE(0);
    if (this.buf.length < 4 + len) return;
    const payload = this.buf.subarray(4, 4 + len);
    this.buf = this.buf.subarray(4 + len);
    const p = this.pending;
    this.pending = null;
    p?.resolve(Buffer.from(payload));
  }

  /** One request on the line and its reply, however long it takes (an error reply: DataplaneError). */
  private async exchange(fields: Fields): Promise<unknown> {
    const sock = this.sock;
    if (!sock) throw new Error(`not connected to the dataplane (${this.lost})`);
    const frame = encodeRequest(fields);
    const payload = await new Promise<Buffer>((resolve, reject) => {
      this.pending = { resolve, reject };
      sock.write(frame);
    });
    const json: unknown = JSON.parse(payload.toString('utf8'));
    const err = errorReplySchema.safeParse(json);
    if (err.success) throw new DataplaneError(err.data.error, err.data.errno);
    return json;
  }

  /** The outcome of p, or undefined when ms pass first. */
  private static within(p: Promise<unknown>, ms: number): Promise<Outcome | undefined> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p.then((reply): Outcome => ({ ok: true, reply }), (e: unknown): Outcome => ({ ok: false, error: e instanceof Error ? e : new Error(String(e)) })),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /**
   * Holds the line for one request: the caller hears within the time-out
   * (its reply, its error, or a DataplaneTimeout); the line stays held until
   * the dataplane has answered and onLate has settled what the caller was
   * told, so that a late reply never answers the next request.
   */
  private async hold(fields: Fields, answer: (o: Outcome) => void, onLate?: LateHandler): Promise<void> {
    const op = String(fields.op);
    const reply = this.exchange(fields);
    const first = await DataplaneClient.within(reply, this.timeoutMs);
    if (first) {
      answer(first);
      return;
    }
    answer({ ok: false, error: new DataplaneTimeout(op, this.timeoutMs) });
    const late = await DataplaneClient.within(reply, this.timeoutMs);
    if (!late) {
      this.opts.report?.('error', `the dataplane has not answered '${op}' for ${2 * this.timeoutMs} ms: it is stuck`);
      const sock = this.sock;
      this.fail(new Error(`the dataplane did not answer '${op}' within ${2 * this.timeoutMs} ms`));
      sock?.destroy();
      this.opts.onStuck?.(op);
      return;
    }
    const send = (f: Fields) =>
      new Promise<unknown>((resolve, reject) => {
        void this.hold(f, (o) => (o.ok ? resolve(o.reply) : reject(o.error)));
      });
    try {
      if (onLate) await onLate(late, send);
      else this.opts.report?.('warning', `the dataplane answered '${op}' late (after the ${this.timeoutMs} ms time-out); nothing to undo`);
    } catch (e) {
      this.opts.report?.('error', `after the late reply to '${op}': ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private roundTrip(fields: Fields, onLate?: LateHandler): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const answer = (o: Outcome) => (o.ok ? resolve(o.reply) : reject(o.error));
      const run = () => this.hold(fields, answer, onLate).catch((e: unknown) => answer({ ok: false, error: e instanceof Error ? e : new Error(String(e)) }));
      this.chain = this.chain.then(run, run);
    });
  }

  private async call<S extends z.ZodType>(schema: S, fields: Fields, onLate?: LateHandler): Promise<z.infer<S>> {
    const json = await this.roundTrip(fields, onLate);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new Error(`malformed dataplane reply to '${String(fields.op)}': ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  }

  private late(op: string, what: string): string {
    return `the dataplane carried out '${op}' (${what}) after its ${this.timeoutMs} ms time-out, when the request had been answered as failed`;
  }

  hello() {
    return this.call(helloReplySchema, { op: 'hello' });
  }

  /** A relay added after its time-out is removed again: the caller was told it failed. */
  async addRelay(r: AddRelayRequest): Promise<DataplaneRelay> {
    const reply = await this.call(addReplySchema, addFields(r), async (o, send) => {
      if (!o.ok) return;
      this.opts.report?.('warning', `${this.late('add_relay', `relay ${r.id}`)}: removing it`);
      await send({ op: 'remove_relay', id: r.id });
      this.opts.report?.('warning', `relay ${r.id} removed again`);
    });
    return reply.relay[0] as DataplaneRelay;
  }

  /**
   * Moves a relay's directions to the worker lcores [VF->VM, VM->VF]. A
   * move carried out after its time-out is kept, and moved() says so.
   */
  async setCpu(id: number, cpu: [number, number], moved?: () => void): Promise<DataplaneRelay> {
    const reply = await this.call(addReplySchema, { op: 'set_cpu', id, cpu: `${cpu[0]},${cpu[1]}` }, (o) => {
      if (!o.ok) return;
      this.opts.report?.('warning', `${this.late('set_cpu', `relay ${id} to CPUs ${cpu[0]},${cpu[1]}`)}: it stays there`);
      moved?.();
    });
    return reply.relay[0] as DataplaneRelay;
  }

  /** A relay removed after its time-out is added again (readd: as it was): the caller was told it failed. */
  async removeRelay(id: number, readd?: AddRelayRequest): Promise<void> {
    await this.call(okReplySchema, { op: 'remove_relay', id }, async (o, send) => {
      if (!o.ok) return;
      if (!readd) {
        this.opts.report?.('error', `${this.late('remove_relay', `relay ${id}`)}; it stays removed`);
        return;
      }
      this.opts.report?.('warning', `${this.late('remove_relay', `relay ${id}`)}: adding it again`);
      await send(addFields(readd));
      this.opts.report?.('warning', `relay ${id} added again`);
    });
  }

  /**
   * Counters of every relay; of one (`id`: refused with ENOENT when it does
   * not exist); or of those of a set of ids that exist (an array).
   */
  stats(id?: number | readonly number[]): Promise<StatsReply> {
    if (id === undefined) return this.call(statsReplySchema, { op: 'stats' });
    if (typeof id === 'number') return this.call(statsReplySchema, { op: 'stats', id });
    return this.call(statsReplySchema, { op: 'stats', ids: [...new Set(id)].sort((a, b) => a - b).join(',') });
  }

  /** Has the dataplane send READY=1 to $NOTIFY_SOCKET; false when there is none. */
  async notifyReady(status: string): Promise<boolean> {
    return (await this.call(notifyReplySchema, { op: 'notify', status })).sent;
  }

  async shutdown(): Promise<void> {
    await this.call(okReplySchema, { op: 'shutdown' });
  }
}

function addFields(r: AddRelayRequest): Fields {
  const fields: Fields = {
    op: 'add_relay',
    id: r.id,
    vf: r.vf,
    vhost: r.vhostPath,
    mode: r.vhostClient ? 'client' : 'server',
  };
  if (r.cpu) fields.cpu = `${r.cpu[0]},${r.cpu[1]}`;
  if (r.bond) {
    fields.bond = r.bond.name;
    fields.bond_mode = r.bond.mode;
  }
  if (r.ident !== undefined) fields.ident = r.ident;
  return fields;
}
