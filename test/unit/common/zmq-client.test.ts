// zmqRequest, the command-line tools' one request: what it says when there
// is no answer is what it found, not a guess: no socket, a socket nobody
// listens on (both after the original's 2 s, not a long --timeout), or a
// listener that is silent. A server that comes up within those 2 s is reached.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as zmq from 'zeromq';
import { TimeoutError, unreachable, zmqRequest } from '@vio4wd/common';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vio4wd-zmqc-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function failure(ep: string, timeoutMs: number): Promise<{ error: unknown; ms: number }> {
  const t0 = Date.now();
  const error = await zmqRequest(ep, Buffer.from('x'), timeoutMs).catch((e: unknown) => e);
  return { error, ms: Date.now() - t0 };
}

describe('zmqRequest', () => {
  test('no socket file: said after 2 s, not the whole time-out, naming the file', async () => {
    const file = path.join(dir, 'none');
    const { error, ms } = await failure(`ipc://${file}`, 20000);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(String((error as Error).message)).toBe(
      `cannot reach ipc://${file}: there is no socket ${file} (virtio-forwarder is not running, or serves another endpoint)`);
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(ms).toBeLessThan(15000);
  });

  test('a socket file nobody listens on (left by an earlier run): said after 2 s', async () => {
    const file = path.join(dir, 'stale');
    // A unix socket whose server is gone: node unlinks on close, so keep a copy of the inode's name.
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(file, r));
    fs.linkSync(file, `${file}.kept`);
    await new Promise((r) => server.close(r));
    fs.renameSync(`${file}.kept`, file);
    expect(await unreachable(`ipc://${file}`)).toBe('ECONNREFUSED');
    const { error, ms } = await failure(`ipc://${file}`, 20000);
    expect(String((error as Error).message)).toBe(
      `cannot reach ipc://${file}: nothing listens on ${file} (virtio-forwarder is not running; the socket is left from an earlier run)`);
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(ms).toBeLessThan(15000);
  });

  test('a listener that does not answer: the time-out, and that it listens', async () => {
    const ep = `ipc://${path.join(dir, 'silent')}`;
    const rep = new zmq.Reply();
    await rep.bind(ep);
    try {
      const { error } = await failure(ep, 300);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(String((error as Error).message)).toBe(
        `no reply from ${ep} within 300 ms: it listens, but did not answer (busy or stuck: journalctl -u virtio-forwarder; --timeout waits longer)`);
    } finally {
      rep.close();
    }
  });

  test('a tcp endpoint nobody listens on: refused, said after 2 s', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    const { error } = await failure(`tcp://127.0.0.1:${port}`, 20000);
    expect(String((error as Error).message)).toBe(`cannot reach tcp://127.0.0.1:${port}: nothing listens there (virtio-forwarder is not running)`);
  });

  test.each([
    ['an answer comes back as sent', 0],
    ['a server that comes up while the request waits (a restart) is reached', 1000],
  ])('%s', async (_what, bindAfterMs) => {
    const ep = `ipc://${path.join(dir, `echo${bindAfterMs}`)}`;
    const rep = new zmq.Reply();
    // One reply, the request echoed after "re:", from a server bound bindAfterMs after the request was sent.
    const serve = (async () => {
      await new Promise((r) => setTimeout(r, bindAfterMs));
      await rep.bind(ep);
      const [msg] = await rep.receive();
      await rep.send(Buffer.concat([Buffer.from('re:'), msg ?? Buffer.alloc(0)]));
    })();
    try {
      expect((await zmqRequest(ep, Buffer.from('hi'), 20000)).toString()).toBe('re:hi');
      await serve;
    } finally {
      rep.close();
    }
  });
});
