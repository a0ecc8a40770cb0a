// DataplaneClient against a fake dataplane on a unix socket: the framing in
// both directions (replies split across reads), errors, malformed replies,
// time-outs and a lost connection.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { DataplaneClient, DataplaneError } from '@vio4wd/common';

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

async function connect(file: string, timeoutMs?: number): Promise<DataplaneClient> {
  const c = new DataplaneClient(file, timeoutMs);
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
});
