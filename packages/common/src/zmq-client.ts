// A REQ client as the original tools use it: linger 0, a receive timeout,
// one frame out and one frame back.
import * as zmq from 'zeromq';

export class TimeoutError extends Error {}

export async function zmqRequest(endpoint: string, frame: Buffer, timeoutMs = 2000): Promise<Buffer> {
  const sock = new zmq.Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
  try {
    sock.connect(endpoint);
    await sock.send(frame);
    const [reply] = await sock.receive();
    if (!reply) throw new Error(`empty reply from ${endpoint}`);
    return reply;
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'EAGAIN') {
      throw new TimeoutError(`no reply from ${endpoint} within ${timeoutMs} ms (is virtio-forwarder running?)`);
    }
    throw e;
  } finally {
    sock.close();
  }
}
