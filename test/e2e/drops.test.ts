// Drop counters: packets the relay cannot deliver are counted by reason,
// and every packet received is either sent or counted as dropped.
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { Topology } from '../lib/topology.js';

jest.setTimeout(120000);

let topo: Topology | undefined;
afterEach(async () => {
  await topo?.cleanUp();
  topo = undefined;
});

describe('drop counters', () => {
  test('VF traffic with no VM counts as not-connected; a VM that stops draining counts as queue-full', async () => {
    // A VF ring deep enough to hold the whole exchange: while the VM's ring is
    // full the relay holds one burst back for up to 10 ms and leaves the rest
    // in the VF's ring before it counts the VM as stalled and drops.
    topo = new Topology('drop', { vhostClient: false, vfRingLog2: 14 });
    await topo.fwd.start();
    const vf = await topo.startVfPeer();
    await topo.addSock();
    // The relay's memif connects to its peer in the background: bursts sent
    // before the link is up never leave the peer.
    for (let i = 0; i < 100 && !(await topo.dataplaneRelay()).vf_up; i++) await new Promise((res) => setTimeout(res, 50));
    expect((await topo.dataplaneRelay()).vf_up).toBe(true);

    // No VM yet: 2 bursts from the VF have nowhere to go.
    await vf.sendBursts(2);
    await vf.cmd('stop');
    let r = await topo.relay();
    for (let i = 0; i < 50 && (r.vf_to_vm.pkts_rx_from_vf ?? 0) < 64; i++) r = await topo.relay();
    expect(r.vf_to_vm.pkts_rx_from_vf).toBe(64);
    expect(r.vf_to_vm.pkts_dropped_vm_not_connected).toBe(64);
    expect(r.vf_to_vm.bytes_dropped_vm_not_connected).toBe(64 * 64);
    expect(r.vf_to_vm.pkts_tx_to_vm).toBe(0);

    // A VM that never polls its receive queue: its ring fills, the rest is dropped as queue-full.
    const vm = await topo.startVm();
    await topo.fwd.waitConnected(0);
    const sent = 40 * 32;
    await vf.sendBursts(40);
    const vfCounters = await vf.waitCounters((c) => c.txPackets >= 64 + sent);
    expect(vfCounters.txPackets).toBe(64 + sent);
    await new Promise((res) => setTimeout(res, 500));
    r = await topo.relay();
    const f = r.vf_to_vm;
    expect(f.pkts_rx_from_vf).toBe(64 + sent);
    expect((f.pkts_tx_to_vm ?? 0) + (f.pkts_dropped_vm_queue_full ?? 0)).toBe(sent);
    expect(f.pkts_dropped_vm_queue_full).toBeGreaterThan(0);
    expect(f.bytes_dropped_vm_queue_full).toBe((f.pkts_dropped_vm_queue_full ?? 0) * 64);
    expect(f.pkts_dropped_vm_not_connected).toBe(64);
    // Nothing overflowed the VF's own ring.
    expect((await topo.dataplaneRelay()).vf_rx_missed).toBe(0);

    // What the relay says it delivered is exactly what the VM finds in its ring.
    await vm.cmd('start');
    const vmCounters = await vm.waitCounters((c) => c.rxPackets >= (f.pkts_tx_to_vm ?? 0));
    await new Promise((res) => setTimeout(res, 300));
    expect((await vm.counters()).rxPackets).toBe(f.pkts_tx_to_vm);
    expect(vmCounters.rxPackets).toBe(f.pkts_tx_to_vm);
  });
});
