// NUMA: a relay's guest-side packet buffers move to the node of the VM's
// memory when the VM connects. A virtual VF has no node, so its relay's
// buffers start unplaced (-1) and move at the first connect; this machine
// has one node (0), so the move is real and the fallback is not reachable.
import path from 'node:path';
import { describe, expect, jest, test } from '@jest/globals';
import { Forwarder } from '../lib/forwarder.js';
import { runCount, startDataplane } from '../lib/dataplane.js';
import { cleanupsAfterEach } from '../lib/fixtures.js';

jest.setTimeout(120000);

const cleanups = cleanupsAfterEach();

describe('NUMA placement', () => {
  test('buffers move to the VM memory node at connect; traffic through them is exact; a reconnect does not move them again', async () => {
    const dir = Forwarder.scratch('numa');
    const client = await startDataplane(dir, '0@0,1@1', cleanups);
    await client.addRelay({ id: 2, vf: `net_memif0,role=server,socket=${dir}/m.sock,socket-abstract=no,rsize=14`, vhostPath: `${dir}/v.sock`, vhostClient: false });
    expect((await client.stats(2)).relays[0]?.buffer_node).toBe(-1);

    const count = 20_000;
    for (const run of [1, 2]) {
      const gen = runCount(`${path.basename(dir)}-${run}`, { memif: `${dir}/m.sock`, vhost: `${dir}/v.sock`, count, pps: 50_000 }, cleanups);
      const r = await gen.done;
      expect([r.vm_tx, r.vf_rx, r.vf_tx, r.vm_rx]).toEqual([count, count, count, count]);
      const relay = (await client.stats(2)).relays[0];
      expect(relay?.buffer_node).toBe(0);
      expect(relay?.socket_id).toBe(0);
      expect(relay?.vm_to_vf.tx_pkts).toBe(run * count);
      // The VM (and the VF's memif peer) go away before the next run reconnects.
      if (run === 1) await gen.stop();
    }
  });
});
