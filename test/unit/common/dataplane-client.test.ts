// DataplaneClient against a fake dataplane on a unix socket: the framing in
// both directions (replies split across reads), errors, malformed replies,
// time-outs (a late reply never answers the next request, and what the
// caller was told failed is undone) and a lost connection.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { DataplaneClient, DataplaneError, DataplaneTimeout, type DataplaneClientOptions } from '@vio4wd/common';

let dir: string;
let n = 0;
const servers: net.Server[] = [];
const clients: DataplaneClient[] = [];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vio4wd-dpc-'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const frame = (payload: string | Buffer) => {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};

/** A fake dataplane: it parses framed requests and answers each with what `answer` writes. */
async function fake(answer: (req: Record<string, string>, sock: net.Socket) => void) {
  const requests: Record<string, string>[] = [];
  const file = path.join(dir, `ctl${n++}.sock`);
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const text = buf.subarray(4, 4 + len).toString();
        buf = buf.subarray(4 + len);
        const req = Object.fromEntries(text.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
        requests.push(req);
        answer(req, sock);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(file, r));
  servers.push(server);
  return { file, requests };
}

async function connect(file: string, opts?: number | DataplaneClientOptions): Promise<DataplaneClient> {
  const c = new DataplaneClient(file, opts);
  clients.push(c);
  await c.connect();
  return c;
}

const HELLO = { ok: true, version: 1, pid: 42, tsc_hz: 2e9, workers: [{ lcore: 1, busy_cycles: 0, idle_cycles: 5 }] };

describe('DataplaneClient', () => {
  test('requests go out as framed key=value lines; a reply that arrives a byte at a time is read whole', async () => {
    const { file, requests } = await fake((req, sock) => {
      const whole = frame(JSON.stringify(req.op === 'hello' ? HELLO : { ok: true }));
      let i = 0;
      const drip = () => {
        if (i < whole.length) sock.write(whole.subarray(i, ++i), () => setImmediate(drip));
      };
      drip();
    });
    const c = await connect(file);
    expect(await c.hello()).toEqual(HELLO);
    await c.removeRelay(7);
    expect(requests).toEqual([{ op: 'hello' }, { op: 'remove_relay', id: '7' }]);
  });

  test('calls made together go one at a time, each answered with its own reply', async () => {
    const { file, requests } = await fake((req, sock) => {
      setTimeout(() => sock.write(frame(JSON.stringify({ ok: true, sent: req.status === 'two' }))), req.status === 'one' ? 50 : 0);
    });
    const c = await connect(file);
    const [one, two] = await Promise.all([c.notifyReady('one'), c.notifyReady('two')]);
    expect([one, two]).toEqual([false, true]);
    expect(requests.map((r) => r.status)).toEqual(['one', 'two']);
  });

  test('a refusal becomes a DataplaneError with the errno', async () => {
    const { file } = await fake((_req, sock) => sock.write(frame(JSON.stringify({ ok: false, errno: 19, error: 'no such VF' }))));
    const c = await connect(file);
    const e = await c.removeRelay(1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DataplaneError);
    expect(e).toMatchObject({ errno: 19, message: 'no such VF' });
  });

  test('a reply that does not match its schema is refused, naming the op', async () => {
    const { file } = await fake((_req, sock) => sock.write(frame(JSON.stringify({ ok: true, version: 'one' }))));
    const c = await connect(file);
    await expect(c.hello()).rejects.toThrow(/malformed dataplane reply to 'hello'/);
  });

  test('a field with a newline is refused before anything is sent', async () => {
    const { file, requests } = await fake((_req, sock) => sock.write(frame('{"ok":true,"sent":true}')));
    const c = await connect(file);
    await expect(c.notifyReady('two\nlines')).rejects.toThrow(/newline/);
    expect(await c.notifyReady('fine')).toBe(true);
    expect(requests).toEqual([{ op: 'notify', status: 'fine' }]);
  });

  test('no reply within the time-out rejects, naming the op', async () => {
    const { file } = await fake(() => undefined);
    const c = await connect(file, 100);
    await expect(c.stats()).rejects.toThrow("dataplane did not answer 'stats' within 100 ms");
  });

  test('a connection lost mid-request rejects it, and the next call says why', async () => {
    const { file } = await fake((_req, sock) => sock.destroy());
    const c = await connect(file);
    await expect(c.shutdown()).rejects.toThrow(/closed|reset/);
    await expect(c.hello()).rejects.toThrow(/not connected to the dataplane/);
  });

  describe('after a time-out', () => {
    /** A fake whose reply to each op comes after delays[op] ms (never, for Infinity); when each request arrived. */
    async function slowFake(delays: Record<string, number>) {
      const t0 = Date.now();
      const arrived: string[] = [];
      const f = await fake((req, sock) => {
        arrived.push(`${req.op}${req.id !== undefined ? ` ${req.id}` : ''}@${Math.round((Date.now() - t0) / 100)}`);
        const ms = delays[req.op ?? ''] ?? 0;
        if (ms === Infinity) return;
        const reply = req.op === 'notify' ? { ok: true, sent: req.status === 'late-proof' } : { ok: true };
        setTimeout(() => sock.write(frame(JSON.stringify(reply))), ms);
      });
      return { ...f, arrived };
    }
    const reports = () => {
      const lines: string[] = [];
      return { lines, report: (level: string, m: string) => lines.push(`${level}: ${m}`) };
    };

    test("the late reply is not taken for the next request's, which waits for it, and is answered once with its own", async () => {
      const { file, requests, arrived } = await slowFake({ stats: 450 });
      const r = reports();
      const c = await connect(file, { timeoutMs: 300, report: r.report });
      const stats = c.stats().catch((e: unknown) => e);
      const next = c.notifyReady('late-proof');
      expect(await stats).toBeInstanceOf(DataplaneTimeout);
      expect(await stats).toMatchObject({ message: "dataplane did not answer 'stats' within 300 ms" });
      expect(await next).toBe(true);
      expect(requests.map((q) => q.op)).toEqual(['stats', 'notify']);
      // notify was sent once stats' reply had come (at 0.45 s), not when stats timed out (0.3 s).
      expect(Number(arrived[1]?.split('@')[1])).toBeGreaterThanOrEqual(4);
      expect(r.lines).toEqual(["warning: the dataplane answered 'stats' late (after the 300 ms time-out); nothing to undo"]);
    });

    test('a relay added late is removed again before any queued request is sent', async () => {
      const { file, requests } = await slowFake({ add_relay: 450 });
      const r = reports();
      const c = await connect(file, { timeoutMs: 300, report: r.report });
      const add = c.addRelay({ id: 3, vf: 'net_null0', vhostPath: '/tmp/x.sock', vhostClient: false }).catch((e: unknown) => e);
      const next = c.notifyReady('late-proof');
      expect(await add).toBeInstanceOf(DataplaneTimeout);
      expect(await next).toBe(true);
      expect(requests.map((q) => `${q.op}${q.id ?? ''}`)).toEqual(['add_relay3', 'remove_relay3', 'notify']);
      expect(r.lines).toEqual([
        "warning: the dataplane carried out 'add_relay' (relay 3) after its 300 ms time-out, when the request had been answered as failed: removing it",
        'warning: relay 3 removed again',
      ]);
    });

    test('a relay added late and refused leaves nothing to undo', async () => {
      const { file, requests } = await fake((req, sock) => {
        setTimeout(() => sock.write(frame(JSON.stringify(req.op === 'add_relay' ? { ok: false, errno: 19, error: 'no VF' } : { ok: true, sent: true }))), req.op === 'add_relay' ? 300 : 0);
      });
      const c = await connect(file, 200);
      await expect(c.addRelay({ id: 1, vf: 'x', vhostPath: '/tmp/y.sock', vhostClient: true })).rejects.toBeInstanceOf(DataplaneTimeout);
      expect(await c.notifyReady('after')).toBe(true);
      expect(requests.map((q) => q.op)).toEqual(['add_relay', 'notify']);
    });

    test('a relay removed late is added back as it was; a move done late is kept and reported', async () => {
      const { file, requests } = await slowFake({ remove_relay: 300, set_cpu: 300 });
      const c = await connect(file, 200);
      await expect(c.removeRelay(5, { id: 5, vf: '0000:05:08.1', vhostPath: '/tmp/z.sock', vhostClient: true, cpu: [1, 2] })).rejects.toBeInstanceOf(DataplaneTimeout);
      let moved = 0;
      await expect(c.setCpu(5, [2, 1], () => moved++)).rejects.toBeInstanceOf(DataplaneTimeout);
      expect(await c.notifyReady('late-proof')).toBe(true);
      expect(requests).toEqual([
        { op: 'remove_relay', id: '5' },
        { op: 'add_relay', id: '5', vf: '0000:05:08.1', vhost: '/tmp/z.sock', mode: 'client', cpu: '1,2' },
        { op: 'set_cpu', id: '5', cpu: '2,1' },
        { op: 'notify', status: 'late-proof' },
      ]);
      expect(moved).toBe(1);
    });

    test('no reply within twice the time-out: the dataplane is declared stuck, queued requests fail, nothing hangs', async () => {
      const { file } = await slowFake({ add_relay: Infinity });
      const r = reports();
      const stuck: string[] = [];
      const c = await connect(file, { timeoutMs: 100, report: r.report, onStuck: (op) => stuck.push(op) });
      const add = c.addRelay({ id: 2, vf: 'x', vhostPath: '/tmp/w.sock', vhostClient: true }).catch((e: unknown) => e);
      const next = c.notifyReady('queued').catch((e: unknown) => e);
      expect(await add).toBeInstanceOf(DataplaneTimeout);
      expect(String(await next)).toMatch(/not connected to the dataplane \(the dataplane did not answer 'add_relay' within 200 ms\)/);
      expect(stuck).toEqual(['add_relay']);
      expect(r.lines).toEqual(["error: the dataplane has not answered 'add_relay' for 200 ms: it is stuck"]);
    });
  });
});
