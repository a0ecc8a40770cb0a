// npm run bench:plug [-- CYCLES]: how fast orchestration can plug a port.
// CYCLES (200) times: add_sock through the real ZeroMQ endpoint, the relay
// connects to its VM (a virtio_user port of dpdk-testpmd in vhost-user server
// mode, as QEMU with server=on; the relay in client mode, the default), and
// the first packet from its VF (net_null: always something to send) lands
// in the VM's ring: add -> first packet. Then remove_sock: remove -> the
// relay and its connection gone (when the reply comes, the dataplane has
// unregistered the socket: checked in stats). Once with no other relay, once
// with 63 others plugged, connected and forwarding.
//
// The VMs' pollers share CPU 1 with the relay's worker here (two CPUs; a
// host gives its VMs CPUs of their own): the others' run at nice 19
// (PLUG_BACKGROUND_NICE), and the run without others has as many busy VM
// processes, so that the two runs differ only in the number of relays. The
// plugged VM polls at the worker's priority: it must post receive buffers
// before the first packet can land.
//
// The plugged VM's memory is on hugepages when there are enough free, as a
// vhost-user VM's is (PLUG_VM_HUGEPAGES=0: 4 KiB pages, which DPDK's vhost
// library maps at connect page by page, ~45 ms a GB). The bench asks for the
// relay's stats every PLUG_POLL_MS (1) ms while it waits, as orchestration
// polling a port would (asking without a pause kept CPU 0 busy with the very
// requests and replies it timed), and prints how long those requests took.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PortControlStatus, ReqClient, wire, type PortControlRequest } from '@vio4wd/common';
import { BASE_PAGES, PAGES_PER_RELAY } from '@vio4wd/forwarder';
import { Forwarder, cleanDpdkRuntime, freeHugepages } from '../lib/forwarder.js';
import { latencies, percentile } from '../lib/stats.js';
import { Testpmd } from '../lib/testpmd.js';

const CYCLES = Number(process.argv[2] ?? 200);
const OTHERS = 63;
/** The other relays' VM processes: up to 32 virtio_user ports each. */
const LOAD_VMS = Math.ceil(OTHERS / 32);
const VM_HUGEPAGES = process.env.PLUG_VM_HUGEPAGES !== '0';
const POLL_MS = Number(process.env.PLUG_POLL_MS ?? 1);
const BACKGROUND_NICE = Number(process.env.PLUG_BACKGROUND_NICE ?? 19);
const pci = (i: number) => `0000:fe:${(i >> 3).toString(16).padStart(2, '0')}.${i % 8}`;
const pciObj = (i: number) => ({ domain: 0, bus: 0xfe, slot: i >> 3, function: i % 8 });

interface PlugTimes {
  /** add_sock -> its reply; -> the relay connected to its VM; -> the first packet in the VM's ring. */
  reply: number[];
  connected: number[];
  add: number[];
  remove: number[];
  /** A stats request for the plugged relay alone. */
  stats: number[];
}

async function run(others: number): Promise<PlugTimes> {
  const dir = Forwarder.scratch('plug');
  const n = others + 1;
  const hugepages = freeHugepages() >= BASE_PAGES + n * PAGES_PER_RELAY;
  const aliases = Array.from({ length: n }, (_, i) => `${pci(i)}=net_null${i}`).join(' ');
  const fwd = Forwarder.write(dir, {
    vhostClient: true, hugepages,
    extra: [`VIRTIOFWD_DEVICE_ALIASES=(${aliases})`, ...(hugepages ? [] : ['VIO4WD_MEMORY_MB=2560'])],
  });
  const vms: Testpmd[] = [];
  try {
    await fwd.start(60000);
    // The VMs: the others' up to 32 ports a testpmd, the plugged one a testpmd of its own (a 256 MB
    // VM), all listening (server=1) as QEMU with server=on. Each waits at start-up until its relays
    // have connected once.
    const starting: Promise<Testpmd>[] = [];
    const vm = (name: string, ports: number[], memoryMb: number, mbufs: number, hugepages = false) =>
      Testpmd.start(name, ports.map((p, j) => `net_virtio_user${j},path=${dir}/vm${p}.sock,server=1,queue_size=256`),
        { timeoutMs: 120000, lscInterrupt: true, mbufs, memoryMb, hugepages });
    for (let first = 0; first < others; first += 32)
      starting.push(vm(`plug${first}`, Array.from({ length: Math.min(32, others - first) }, (_, j) => first + j), 1024, 32 * 1024));
    // Without others: as many busy VM processes beside the plugged one, polling a null port each.
    for (let k = Math.ceil(others / 32); k < LOAD_VMS; k++)
      starting.push(Testpmd.start(`plugload${k}`, 'net_null0', { timeoutMs: 120000 }));
    // Its 256 MB on 2 MiB pages, with room to spare.
    starting.push(vm('plugged', [others], 256, 4096, VM_HUGEPAGES && freeHugepages() >= 256 / 2 + 8));
    const pc = new ReqClient(fwd.portControlEp, 10000);
    const stats = new ReqClient(fwd.statsEp, 10000);
    const control = async (req: PortControlRequest) => {
      const r = wire.PortControlResponse.decode(await pc.request(wire.PortControlRequest.encode(req)));
      if (r.status !== PortControlStatus.OK) throw new Error(`port control: ${r.error_code_source ?? '?'}`);
    };
    const t: PlugTimes = { reply: [], connected: [], add: [], remove: [], stats: [] };
    const relay = async (id: number) => {
      const t0 = performance.now();
      const r = wire.StatsResponse.decode(await stats.request(wire.StatsRequest.encode({ relay: [id], include_inactive: true, delay: 0 }))).relay[0];
      t.stats.push(performance.now() - t0);
      return r;
    };
    const add = (i: number) => control({ op: 2, pci_addrs: [pciObj(i)], vhost_path: `${dir}/vm${i}.sock`, conditional: false });
    for (let i = 0; i < n; i++) await add(i);
    for (const s of starting) {
      const vm = await s;
      vms.push(vm);
      if (vm.name !== 'plugged') vm.reniceForwarding(BACKGROUND_NICE);
      await vm.cmd('start');
    }
    // All connected and forwarding before the cycles start; then the cycled one goes.
    for (let i = 0; i < n; i++) {
      const deadline = Date.now() + 60000;
      while (((await relay(i))?.vf_to_vm.pkts_tx_to_vm ?? 0) === 0) {
        if (Date.now() > deadline) throw new Error(`relay ${i} never forwarded`);
        await sleep(20);
      }
    }
    const id = others;
    await control({ op: 3, pci_addrs: [], vhost_path: `${dir}/vm${id}.sock`, conditional: false });
    await sleep(100);
    t.stats.length = 0;
    for (let c = 0; c < CYCLES; c++) {
      const t0 = performance.now();
      await add(id);
      t.reply.push(performance.now() - t0);
      const deadline = Date.now() + 20000;
      let connected = false;
      for (;;) {
        const r = await relay(id);
        if (!connected && r?.active) {
          connected = true;
          t.connected.push(performance.now() - t0);
        }
        if ((r?.vf_to_vm.pkts_tx_to_vm ?? 0) > 0) break;
        if (Date.now() > deadline) throw new Error(`cycle ${c}: relay ${id} forwarded nothing within 20 s`);
        if (POLL_MS > 0) await sleep(POLL_MS);
      }
      t.add.push(performance.now() - t0);
      const t1 = performance.now();
      await control({ op: 3, pci_addrs: [], vhost_path: `${dir}/vm${id}.sock`, conditional: false });
      t.remove.push(performance.now() - t1);
      if ((await relay(id)) !== undefined) throw new Error(`cycle ${c}: relay ${id} still listed after remove_sock`);
      // The VM notices the disconnection and listens again (virtio_user's LSC handler).
      await sleep(20);
    }
    pc.reset();
    stats.reset();
    return t;
  } finally {
    for (const vm of vms) {
      await vm.quit();
      cleanDpdkRuntime(vm.filePrefix);
    }
    await fwd.stop();
    cleanDpdkRuntime(`vio4wd-${path.basename(dir)}`);
  }
}

let worst = 0;
const p50s: number[] = [];
const p99s: number[] = [];
for (const others of [0, OTHERS]) {
  const r = await run(others);
  console.log(`plug, ${others} other relays, ${CYCLES} cycles: add_sock -> first packet in the VM: ${latencies(r.add)}; remove_sock -> relay gone: ${latencies(r.remove)}`);
  console.log(`plug, ${others} other relays: add_sock -> reply ${latencies(r.reply)}; -> VM connected ${latencies(r.connected)}; ` +
    `a stats request for one relay ${latencies(r.stats)}`);
  worst = Math.max(worst, percentile(r.add, 99), percentile(r.remove, 99));
  p50s.push(percentile(r.add, 50));
  p99s.push(percentile(r.add, 99));
}
console.log(`plug_p99_ms=${worst.toFixed(1)}`);
console.log(`plug_p50_growth_64_vs_1=${((p50s[1] ?? 0) / (p50s[0] ?? 1)).toFixed(2)}`);
console.log(`plug_p99_growth_64_vs_1=${((p99s[1] ?? 0) / (p99s[0] ?? 1)).toFixed(2)}`);
