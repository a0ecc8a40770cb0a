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

export class DataplaneClient {
  private sock: net.Socket | null = null;
  private buf = Buffer.alloc(0);
  private pending: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  /** Why the connection went away, for the error of the next call. */
  private lost = 'never connected';

  constructor(
    readonly path: string,
    private readonly timeoutMs = 10000,
  ) {}

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

  private fail(e: Error): void {
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

  private roundTrip(fields: Record<string, string | number>): Promise<unknown> {
    const run = async (): Promise<unknown> => {
      const sock = this.sock;
      if (!sock) throw new Error(`not connected to the dataplane (${this.lost})`);
      const frame = encodeRequest(fields);
      const payload = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending = null;
          reject(new Error(`dataplane did not answer '${String(fields.op)}' within ${this.timeoutMs} ms`));
        }, this.timeoutMs);
        this.pending = {
          resolve: (b) => {
            clearTimeout(timer);
            resolve(b);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        sock.write(frame);
      });
      const json: unknown = JSON.parse(payload.toString('utf8'));
      const err = errorReplySchema.safeParse(json);
      if (err.success) throw new DataplaneError(err.data.error, err.data.errno);
      return json;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async call<S extends z.ZodType>(schema: S, fields: Record<string, string | number>): Promise<z.infer<S>> {
    const json = await this.roundTrip(fields);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new Error(`malformed dataplane reply to '${String(fields.op)}': ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  }

  hello() {
    return this.call(helloReplySchema, { op: 'hello' });
  }

  async addRelay(r: AddRelayRequest): Promise<DataplaneRelay> {
    const fields: Record<string, string | number> = {
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
    const reply = await this.call(addReplySchema, fields);
    return reply.relay[0] as DataplaneRelay;
  }

  /** Moves a relay's directions to the worker lcores [VF->VM, VM->VF]. */
  async setCpu(id: number, cpu: [number, number]): Promise<DataplaneRelay> {
    const reply = await this.call(addReplySchema, { op: 'set_cpu', id, cpu: `${cpu[0]},${cpu[1]}` });
    return reply.relay[0] as DataplaneRelay;
  }

  async removeRelay(id: number): Promise<void> {
    await this.call(okReplySchema, { op: 'remove_relay', id });
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
