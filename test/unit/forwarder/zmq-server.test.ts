// ZmqServer on real ZeroMQ sockets (ipc in a temporary directory, no root):
// the order of a serial endpoint, concurrency otherwise, the in-flight bound,
// the frame limit, and replies to what does not decode.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import * as zmq from 'zeromq';
import { WireError } from '@vio4wd/common';
import { MAX_IN_FLIGHT, MAX_REQUEST_BYTES, ZmqServer, type ZmqEndpoint } from '@vio4wd/forwarder';
import { captureLog } from '../../lib/log-capture.js';

let dir: string;
let n = 0;
const open: { stop(): Promise<void> }[] = [];
const clients: zmq.Dealer[] = [];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vio4wd-zmq-'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of open.splice(0)) await s.stop();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** Strings in, strings out; "bad…" does not decode; "boom…" makes the handler throw. */
function endpoint(handle: (req: string) => Promise<string>, serial = false): ZmqEndpoint<string, string> {
  return {
    name: 'test',
    serial,
    decode: (f) => {
      const s = f.toString();
      if (s.startsWith('bad')) throw new WireError(`cannot decode ${s}`);
      return s;
    },
    encode: (r) => Buffer.from(r),
    handle: async (r) => {
      if (r.startsWith('boom')) throw new Error(`handler failed on ${r}`);
      return handle(r);
    },
    errorReply: (reason) => `error: ${reason}`,
  };
}

async function serve(ep: ZmqEndpoint<string, string>) {
  const address = `ipc://${dir}/ep${n++}`;
  const { log, lines } = captureLog();
  const fatal: string[] = [];
  const server = new ZmqServer(address, ep, log, (why) => fatal.push(why));
  await server.start();
  open.push(server);
  return { address, lines, fatal, server };
}

/** A DEALER speaking as REQ clients do (an empty delimiter first), several requests in flight on one connection, in order. */
async function dealer(address: string): Promise<{ send(s: string | Buffer): Promise<void>; replies: string[] }> {
  const sock = new zmq.Dealer({ linger: 0 });
  clients.push(sock);
  sock.connect(address);
  const replies: string[] = [];
  void (async () => {
    for await (const [delim, body] of sock) if (delim?.length === 0) replies.push(body?.toString() ?? '');
  })().catch(() => undefined);
  return { send: (s) => sock.send([Buffer.alloc(0), s]), replies };
}

describe('ZmqServer', () => {
  test('a serial endpoint handles one request at a time, in arrival order, even when the first is the slowest', async () => {
    let inside = 0;
    let most = 0;
    const started: string[] = [];
    const { address } = await serve(endpoint(async (r) => {
      started.push(r);
      inside++;
      most = Math.max(most, inside);
      await sleep(Number(r.split(':')[1]));
      inside--;
      return `done ${r}`;
    }, true));
    const c = await dealer(address);
    const reqs = ['a:80', 'b:40', 'c:1', 'd:20', 'e:0'];
    for (const r of reqs) await c.send(r);
    await until(() => c.replies.length === reqs.length);
    expect(started).toEqual(reqs);
    expect(c.replies).toEqual(reqs.map((r) => `done ${r}`));
    expect(most).toBe(1);
  });

  test('a concurrent endpoint answers a fast request while a slow one is still in progress', async () => {
    const { address } = await serve(endpoint(async (r) => {
      await sleep(Number(r.split(':')[1]));
      return r;
    }));
    const c = await dealer(address);
    await c.send('slow:300');
    await c.send('fast:0');
    await until(() => c.replies.length === 2);
    expect(c.replies).toEqual(['fast:0', 'slow:300']);
  });

  test(`at most ${MAX_IN_FLIGHT} requests are in progress; the rest wait and are all answered`, async () => {
    let inside = 0;
    let most = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { address } = await serve(endpoint(async (r) => {
      inside++;
      most = Math.max(most, inside);
      await gate;
      inside--;
      return r;
    }));
    const c = await dealer(address);
    const total = MAX_IN_FLIGHT + 36;
    for (let i = 0; i < total; i++) await c.send(`r${i}`);
    await until(() => inside === MAX_IN_FLIGHT);
    await sleep(100);
    expect(inside).toBe(MAX_IN_FLIGHT);
    release();
    await until(() => c.replies.length === total);
    expect(most).toBe(MAX_IN_FLIGHT);
    expect(new Set(c.replies).size).toBe(total);
  });

  test('an undecodable request and a failing handler get the error reply; the endpoint serves on', async () => {
    const { address, lines, fatal } = await serve(endpoint(async (r) => `ok ${r}`, true));
    const c = await dealer(address);
    await c.send('bad1');
    await c.send('boom2');
    await c.send('fine');
    await until(() => c.replies.length === 3);
    expect(c.replies).toEqual(['error: cannot decode bad1', 'error: handler failed on boom2', 'ok fine']);
    expect(lines).toContain('warning test: bad request (4 bytes): cannot decode bad1');
    expect(lines).toContain('error test: request failed: handler failed on boom2');
    expect(fatal).toEqual([]);
  });

  test('a frame over the limit is never handled (its connection is dropped); other clients are served', async () => {
    const handled: number[] = [];
    const { address, fatal } = await serve(endpoint(async (r) => {
      handled.push(r.length);
      return 'ok';
    }));
    const big = await dealer(address);
    await big.send(Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x61));
    const small = await dealer(address);
    await small.send('x'.repeat(100));
    await until(() => small.replies.length === 1);
    await sleep(200);
    expect(handled).toEqual([100]);
    expect(big.replies).toEqual([]);
    expect(fatal).toEqual([]);
  });

  test('a message without a REQ envelope is ignored with a warning, and needs no reply', async () => {
    const { address, lines } = await serve(endpoint(async (r) => r));
    const raw = new zmq.Dealer({ linger: 0 });
    clients.push(raw);
    raw.connect(address);
    await raw.send(['no', 'delimiter']);
    const c = await dealer(address);
    await c.send('after');
    await until(() => c.replies.length === 1);
    expect(c.replies).toEqual(['after']);
    expect(lines.some((l) => l.startsWith('warning test: a message without a REQ client'))).toBe(true);
  });

  test('an ipc endpoint is a 0660 socket file while it serves, and gone after stop', async () => {
    const { address, server } = await serve(endpoint(async (r) => r));
    const file = address.slice('ipc://'.length);
    expect(fs.statSync(file).mode & 0o777).toBe(0o660);
    await server.stop();
    expect(fs.existsSync(file)).toBe(false);
  });
});
