// Multiqueue: a VM with 4 queue pairs. VF->VM packets are spread over the
// queues the guest enabled by a flow hash (a flow stays on one queue, in
// order); VM->VF drains every enabled queue. The guest side is virtio_user
// in vio4wd-pktgen, which sends flow f on its queue f % queues.
import path from 'node:path';
import { describe, expect, jest, test } from '@jest/globals';
import { Forwarder } from '../lib/forwarder.js';
import { runCount, startDataplane, type CountResult } from '../lib/dataplane.js';
import { cleanupsAfterEach } from '../lib/fixtures.js';

jest.setTimeout(120000);

const cleanups = cleanupsAfterEach();

async function exchange(tag: string, vdevQueues: number, queues: number, flows: number, count: number) {
  const dir = Forwarder.scratch(tag);
  const client = await startDataplane(dir, '0@0,1@1', cleanups);
  await client.addRelay({ id: 5, vf: `net_memif0,role=server,socket=${dir}/m.sock,socket-abstract=no,rsize=14`, vhostPath: `${dir}/v.sock`, vhostClient: false });
  const r: CountResult = await runCount(path.basename(dir), { memif: `${dir}/m.sock`, vhost: `${dir}/v.sock`, count, pps: 100_000, flows, vdevQueues, queues }, cleanups).done;
  const stats = (await client.stats()).relays[0];
  if (!stats) throw new Error('relay 5 is gone');
  return { r, stats };
}

describe('multiqueue', () => {
  test('4 queue pairs, 16 flows each way: every queue used, each flow on one queue and in order, nothing lost', async () => {
    const count = 100_000;
    const { r, stats } = await exchange('mq4', 4, 4, 16, count);

    expect([r.vm_tx, r.vf_tx]).toEqual([count, count]);
    // VM->VF: the relay drained all four guest transmit queues into the VF.
    expect(r.vf_rx).toBe(count);
    expect(r.vf_reordered).toBe(0);
    // VF->VM: spread over all four guest receive queues by flow.
    expect(r.vm_rx).toBe(count);
    expect(r.vm_rxq).toHaveLength(4);
    for (const q of r.vm_rxq) expect(q).toBeGreaterThan(0);
    expect(r.vm_rxq.reduce((a, b) => a + b, 0)).toBe(count);
    expect(r.vm_split_flows).toBe(0);
    expect(r.vm_reordered).toBe(0);
    expect([stats.vf_to_vm.tx_pkts, stats.vm_to_vf.tx_pkts]).toEqual([count, count]);
    expect([stats.vf_to_vm.drop_full_pkts, stats.vf_to_vm.drop_nc_pkts, stats.vm_to_vf.drop_full_pkts, stats.vm_to_vf.drop_nc_pkts]).toEqual([0, 0, 0, 0]);
  });

  test('a guest that enables 2 of its 4 queue pairs gets VF->VM packets on those 2 only', async () => {
    const count = 50_000;
    // virtio_user offers 4 pairs; the guest driver configures (enables) 2 and polls only them.
    const { r, stats } = await exchange('mq2', 4, 2, 16, count);

    expect(r.vm_rxq).toHaveLength(2);
    expect(r.vm_rxq.every((q) => q > 0)).toBe(true);
    // Had the relay used queue 2 or 3, those packets would never have arrived.
    expect(r.vm_rx).toBe(count);
    expect(r.vf_rx).toBe(count);
    expect(r.vm_split_flows).toBe(0);
    expect([r.vm_reordered, r.vf_reordered]).toEqual([0, 0]);
    expect(stats.vf_to_vm.tx_pkts).toBe(count);
  });
});
