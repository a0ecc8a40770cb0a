// End to end: the real supervisor and dataplane, the real port-control CLI,
// dpdk-testpmd as the VM (virtio_user) and as the far end of a memif VF.
import fs from 'node:fs';
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { TEST_HUGEPAGES, type Forwarder } from '../lib/forwarder.js';
import type { Testpmd } from '../lib/testpmd.js';
import { Topology, VF_PCI } from '../lib/topology.js';

jest.setTimeout(180000);

const VM_TO_VF_BURSTS = 5; // x 32 packets
const VF_TO_VM_BURSTS = 3;

let topo: Topology | undefined;
afterEach(async () => {
  await topo?.cleanUp();
  topo = undefined;
});

function relayOf(stats: Awaited<ReturnType<Forwarder['stats']>>, id: number) {
  const r = stats.relay.find((x) => x.id === id);
  if (!r) throw new Error(`relay ${id} missing from stats: ${JSON.stringify(stats)}`);
  return r;
}

/**
 * Sends exact packet counts both ways and checks that the far side and the
 * stats endpoint see exactly those counts (as increments over `base`).
 */
async function exchange(vm: Testpmd, vf: Testpmd, fwd: Forwarder, relayId: number) {
  const before = relayOf(await fwd.stats(), relayId);
  const vmBefore = await vm.counters();
  const vfBefore = await vf.counters();

  // VF -> VM first: the VM is not polling yet, its receive ring holds them.
  await vf.sendBursts(VF_TO_VM_BURSTS);
  // VM -> VF: the VF side is now receiving (rxonly after its tx_first).
  await vm.sendBursts(VM_TO_VF_BURSTS);

  const toVm = VF_TO_VM_BURSTS * 32;
  const toVf = VM_TO_VF_BURSTS * 32;
  const vmNow = await vm.waitCounters((c) => c.rxPackets - vmBefore.rxPackets >= toVm);
  const vfNow = await vf.waitCounters((c) => c.rxPackets - vfBefore.rxPackets >= toVf);
  // Nothing more may trickle in.
  await new Promise((r) => setTimeout(r, 500));
  const vmEnd = await vm.counters();
  const vfEnd = await vf.counters();

  expect(vfEnd.txPackets - vfBefore.txPackets).toBe(toVm);
  expect(vmEnd.txPackets - vmBefore.txPackets).toBe(toVf);
  expect(vmEnd.rxPackets - vmBefore.rxPackets).toBe(toVm);
  expect(vfEnd.rxPackets - vfBefore.rxPackets).toBe(toVf);
  expect(vmNow.rxPackets).toBe(vmEnd.rxPackets);
  expect(vfNow.rxPackets).toBe(vfEnd.rxPackets);

  const after = relayOf(await fwd.stats(), relayId);
  const d = (a: number | undefined, b: number | undefined) => (a ?? 0) - (b ?? 0);
  expect(d(after.vf_to_vm.pkts_rx_from_vf, before.vf_to_vm.pkts_rx_from_vf)).toBe(toVm);
  expect(d(after.vf_to_vm.pkts_tx_to_vm, before.vf_to_vm.pkts_tx_to_vm)).toBe(toVm);
  expect(d(after.vf_to_vm.bytes_tx_to_vm, before.vf_to_vm.bytes_tx_to_vm)).toBe(toVm * 64);
  expect(d(after.vm_to_vf.pkts_rx_from_vm, before.vm_to_vf.pkts_rx_from_vm)).toBe(toVf);
  expect(d(after.vm_to_vf.pkts_tx_to_vf, before.vm_to_vf.pkts_tx_to_vf)).toBe(toVf);
  expect(d(after.vm_to_vf.bytes_tx_to_vf, before.vm_to_vf.bytes_tx_to_vf)).toBe(toVf * 64);
  expect(after.vf_to_vm.pkts_dropped_vm_queue_full).toBe(0);
  expect(after.vm_to_vf.pkts_dropped_vf_queue_full).toBe(0);
  // Both sides are idle again: stop forwarding so the next round can tx_first.
  await vm.cmd('stop');
  await vf.cmd('stop');
}

describe('a packet crosses one relay end to end', () => {
  test(`server mode${TEST_HUGEPAGES ? ' on hugepages' : ''}: add_sock, exact counts both ways, stats agree, a VM restart reconnects, remove_sock removes the relay`, async () => {
    topo = new Topology('srv', { vhostClient: false, hugepages: TEST_HUGEPAGES });
    const { vhost, fwd } = topo;
    await fwd.start();
    // The memif server (the VF's far end) must exist before the relay's client connects.
    const vf = await topo.startVfPeer();

    const add = await fwd.portctl('add_sock', `--vhost-path=${vhost}`, `--pci-addr=${VF_PCI}`);
    expect(add.stderr).toBe('');
    expect(add.exitCode).toBe(0);
    expect(fs.statSync(vhost).isSocket()).toBe(true);
    const query = await fwd.portctl('query_pci', `--vhost-path=${vhost}`);
    expect(query.stdout.trim()).toBe(VF_PCI);

    const vm = await topo.startVm();
    const id = relayOf(await fwd.stats(), 0).id;
    await fwd.waitConnected(id);
    await exchange(vm, vf, fwd, id);

    // The VM restarts: it reconnects to the same socket and traffic flows.
    await vm.kill('SIGKILL');
    await fwd.waitConnected(id, false);
    const vm2 = await topo.startVm('vm2');
    await fwd.waitConnected(id);
    await exchange(vm2, vf, fwd, id);

    const rm = await fwd.portctl('remove_sock', `--vhost-path=${vhost}`, `--pci-addr=${VF_PCI}`);
    expect(rm.exitCode).toBe(0);
    expect((await fwd.stats()).relay).toEqual([]);
    expect(fs.existsSync(vhost)).toBe(false);
    // A second remove is refused (not conditional), and changes nothing.
    const again = await fwd.portctl('remove_sock', `--vhost-path=${vhost}`);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/no relay uses/);
  });

  test('client mode: the relay reconnects to a VM killed and restarted 5 times, and traffic flows again each time without re-plugging', async () => {
    topo = new Topology('cli', { vhostClient: true });
    const { vhost, fwd } = topo;
    await fwd.start();
    const vf = await topo.startVfPeer();
    // In client mode the VM owns the socket: QEMU "server", here virtio_user server=1,
    // whose probe waits for us to connect, so start it without waiting.
    const vmStarting = topo.startVm('vm', { server: true });
    await waitForFile(vhost);
    const add = await fwd.portctl('add_sock', `--vhost-path=${vhost}`, `--pci-addr=${VF_PCI}`);
    expect(add.exitCode).toBe(0);
    let vm = await vmStarting;
    await fwd.waitConnected(0);
    await exchange(vm, vf, fwd, 0);

    // The VM process dies, five times; each time the relay stays, waits,
    // reconnects to the new VM by itself, and traffic flows again.
    for (let round = 1; round <= 5; round++) {
      await vm.kill('SIGKILL');
      await fwd.waitConnected(0, false);
      fs.rmSync(vhost, { force: true });
      vm = await topo.startVm(`vm${round}`, { server: true });
      await fwd.waitConnected(0);
      await exchange(vm, vf, fwd, 0);
    }
    expect((await fwd.stats()).relay.map((r) => r.id)).toEqual([0]);
    // Waiting for a VM is normal in client mode: said once a time, at info,
    // by the socket's real path (DPDK's own lines name /proc/self/fd/N/...).
    const waits = fwd.log.split('\n').filter((l) => l.includes('waiting for the VM'));
    expect(waits).toHaveLength(5);
    for (const w of waits) expect(w).toMatch(new RegExp(`^<6>vio4wd: waiting for the VM: (no socket at|nothing listens on) ${vhost} yet`));
    expect(fwd.log).not.toMatch(/\/proc\/self\/fd|failed to connect/);
  });
});

// The virtio paths guests use: split or packed virtqueues, in order or not,
// mergeable receive buffers or not (testpmd's virtio_user negotiates what
// it is given; QEMU: <driver packed='on'/>, see test/system/libvirt.sh).
// Each: the features the dataplane negotiated, and exact counts both ways.
const VIRTIO_F_RING_PACKED = 1n << 34n;
const VIRTIO_F_IN_ORDER = 1n << 35n;
const VIRTIO_NET_F_MRG_RXBUF = 1n << 15n;
const PATHS: [string, bigint][] = [
  ['packed_vq=0,in_order=0,mrg_rxbuf=1', VIRTIO_NET_F_MRG_RXBUF],
  ['packed_vq=0,in_order=1,mrg_rxbuf=0', VIRTIO_F_IN_ORDER],
  ['packed_vq=1,in_order=0,mrg_rxbuf=1', VIRTIO_F_RING_PACKED | VIRTIO_NET_F_MRG_RXBUF],
  ['packed_vq=1,in_order=0,mrg_rxbuf=0', VIRTIO_F_RING_PACKED],
  ['packed_vq=1,in_order=1,mrg_rxbuf=1', VIRTIO_F_RING_PACKED | VIRTIO_F_IN_ORDER | VIRTIO_NET_F_MRG_RXBUF],
];

describe('the virtio paths a guest may negotiate', () => {
  test.each(PATHS)('virtio_user %s: negotiated as asked, exact counts both ways', async (args, want) => {
    // Mergeable buffers offered (the service's default; the tests' is off).
    topo = new Topology('vq', { vhostClient: false, extra: ['VIRTIOFWD_MRGBUF=true'] });
    const { fwd } = topo;
    await fwd.start();
    const vf = await topo.startVfPeer();
    await topo.addSock();
    const vm = await topo.startVm('vm', { args });
    await fwd.waitConnected(0);
    const features = BigInt((await topo.dataplaneRelay(0)).vhost_features);
    const asked = VIRTIO_F_RING_PACKED | VIRTIO_F_IN_ORDER | VIRTIO_NET_F_MRG_RXBUF;
    expect((features & asked).toString(16)).toBe(want.toString(16));
    await exchange(vm, vf, fwd, 0);
  });
});

async function waitForFile(p: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(p)) {
    if (Date.now() > deadline) throw new Error(`${p} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
