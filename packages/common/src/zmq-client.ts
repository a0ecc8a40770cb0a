// REQ clients as the original tools use them: linger 0, a receive timeout,
// one frame out and one frame back.
import * as zmq from 'zeromq';

export class TimeoutError extends Error {}

/** The socket file of an ipc:// endpoint; undefined for other transports. */
export function ipcPath(endpoint: string): string | undefined {
  return endpoint.startsWith('ipc://') ? endpoint.slice('ipc://'.length) : undefined;
}

export async function zmqRequest(endpoint: string, frame: Buffer, timeoutMs = 2000): Promise<Buffer> {
  const client = new ReqClient(endpoint, timeoutMs);
  try {
    return await client.request(frame);
  } catch (e) {
    if (e instanceof TimeoutError) throw new TimeoutError(`${e.message} (is virtio-forwarder running?)`);
    throw e;
  } finally {
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
      if (e instanceof Error && 'code' in e && e.code === 'EAGAIN')
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
