// REQ clients as the original tools use them: linger 0, a receive timeout,
// one frame out and one frame back.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import { errorCode } from './errors.js';

export class TimeoutError extends Error {}

/**
 * How long the command-line tools wait for a reply by default (--timeout):
 * longer than the forwarder waits for its dataplane (VIO4WD_DATAPLANE_TIMEOUT_MS,
 * 30000 by default), so that they hear its answer even to a slow request.
 */
export const CLI_TIMEOUT_MS = 35000;
export const MAX_CLI_TIMEOUT_MS = 3600000;

/** --timeout: whole milliseconds, 1 to an hour. */
export function checkTimeout(ms: number): true {
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_CLI_TIMEOUT_MS) throw new Error(`--timeout ${ms}: give whole milliseconds from 1 to ${MAX_CLI_TIMEOUT_MS}`);
  return true;
}

/** The socket file of an ipc:// endpoint; undefined for other transports. */
export function ipcPath(endpoint: string): string | undefined {
  return endpoint.startsWith('ipc://') ? endpoint.slice('ipc://'.length) : undefined;
}

/** Where an ipc:// or tcp:// endpoint is, to open a plain connection to; undefined for other transports. */
function socketOf(endpoint: string): net.NetConnectOpts | undefined {
  const file = ipcPath(endpoint);
  if (file !== undefined) return { path: file };
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(endpoint);
  if (!m || m[1] === '*') return undefined;
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * Whether anything listens at an endpoint, found by connecting to it: what
 * was found (the system's error code), or undefined when a connection was
 * made or the transport cannot be tried.
 */
export async function unreachable(endpoint: string, timeoutMs = 1000): Promise<string | undefined> {
  const at = socketOf(endpoint);
  if (!at) return undefined;
  return new Promise((resolve) => {
    const s = net.createConnection(at);
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.once('connect', () => done(undefined));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

function unreachableText(endpoint: string, code: string): string {
  const file = ipcPath(endpoint);
  if (code === 'ENOENT' && file) return `cannot reach ${endpoint}: there is no socket ${file} (virtio-forwarder is not running, or serves another endpoint)`;
  if (code === 'ECONNREFUSED')
    return `cannot reach ${endpoint}: nothing listens ${file ? `on ${file}` : 'there'} (virtio-forwarder is not running${file ? '; the socket is left from an earlier run' : ''})`;
  return `cannot reach ${endpoint}: ${code}`;
}

/**
 * How long a request waits for an ipc:// or tcp:// endpoint nothing listens
 * at (the original clients' whole time-out): a server starting meanwhile is
 * reached; one that is not there is said then, not after a long --timeout.
 */
export const UNREACHABLE_GRACE_MS = 2000;

/**
 * One request of a command-line tool. An ipc:// or tcp:// endpoint nothing
 * listens at for UNREACHABLE_GRACE_MS ends it, saying so; no reply within
 * timeoutMs says what is known (something listens, but did not answer),
 * not a guess.
 */
export async function zmqRequest(endpoint: string, frame: Buffer, timeoutMs = 2000): Promise<Buffer> {
  const client = new ReqClient(endpoint, timeoutMs);
  let finding: string | undefined;
  const done = new AbortController();
  // Until something listens there (then ZeroMQ's own connection carries the request).
  const watch = socketOf(endpoint) === undefined ? Promise.resolve() : (async () => {
    const since = Date.now();
    while (!done.signal.aborted) {
      const why = await unreachable(endpoint, 500);
      if (why === undefined || done.signal.aborted) return;
      if (Date.now() - since >= Math.min(UNREACHABLE_GRACE_MS, timeoutMs)) {
        finding = why;
        client.reset(); // the pending send or receive fails at once
        return;
      }
      await sleep(100, undefined, { signal: done.signal }).catch(() => undefined);
    }
  })();
  try {
    return await client.request(frame);
  } catch (e) {
    if (finding === undefined && !(e instanceof TimeoutError)) throw e;
    // Nothing there (now, or for the grace): that, whichever came first.
    const why = finding ?? (await unreachable(endpoint));
    if (why !== undefined) throw new TimeoutError(unreachableText(endpoint, why));
    const message = e instanceof Error ? e.message : String(e);
    throw new TimeoutError(socketOf(endpoint)
      ? `${message}: it listens, but did not answer (busy or stuck: journalctl -u virtio-forwarder; --timeout waits longer)`
      : message);
  } finally {
    done.abort();
    await watch;
    client.reset();
  }
}

/**
 * A long-lived REQ client for services that poll: one socket, replaced by a
 * new one after anything goes wrong (a timed-out REQ socket is stuck waiting
 * for its reply and cannot send again), so a restarted server is reached.
 */
export class ReqClient {
  private sock: zmq.Request | null = null;

  constructor(
    readonly endpoint: string,
    private readonly timeoutMs = 2000,
  ) {}

  async request(frame: Buffer, timeoutMs = this.timeoutMs): Promise<Buffer> {
    if (!this.sock) {
      this.sock = new zmq.Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
      this.sock.connect(this.endpoint);
    }
    const sock = this.sock;
    sock.receiveTimeout = timeoutMs;
    try {
      await sock.send(frame);
      const [reply] = await sock.receive();
      if (!reply) throw new Error(`empty reply from ${this.endpoint}`);
      return reply;
    } catch (e) {
      this.reset();
      if (errorCode(e) === 'EAGAIN')
        throw new TimeoutError(`no reply from ${this.endpoint} within ${timeoutMs} ms`);
      throw e;
    }
  }

  /** Drops the socket (after a reply that made no sense, say); the next request opens a new one. */
  reset(): void {
    this.sock?.close();
    this.sock = null;
  }
}
