// Benchmark: vio4wd-dataplane against dpdk-testpmd (io forwarding over
// net_vhost + memif) as the relay, same topology, same run, alternating
// A B A B. One traffic process (vio4wd-pktgen) owns both outer ports:
// virtio_user on the relay's vhost-user socket and a memif client to the
// relay's VF (a memif server). Relay worker on CPU 1, traffic on CPU 0.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { z } from 'zod';
import { DataplaneClient, type StatsReply } from '@vio4wd/common';
import { DATAPLANE, ROOT } from '../lib/forwarder.js';

const PKTGEN = path.join(ROOT, 'build/dataplane/vio4wd-pktgen');

export type Dir = 'vm2vf' | 'vf2vm' | 'bidir';
const latency = z.object({ n: z.number(), p50_ns: z.number(), p99_ns: z.number(), p999_ns: z.number(), max_ns: z.number() });
export type Latency = z.infer<typeof latency>;

const pktgenResult = z.object({
  dir: z.string(),
  size: z.number(),
  seconds: z.number(),
  vm_to_vf_mpps: z.number(),
  vf_to_vm_mpps: z.number(),
  vm_tx: z.number(),
  vf_rx: z.number(),
  vf_tx: z.number(),
  vm_rx: z.number(),
  vm_to_vf_latency: latency.optional(),
  vf_to_vm_latency: latency.optional(),
});
type PktgenResult = z.infer<typeof pktgenResult>;

export interface Sample {
  mpps: number;
  cyclesPerPacket: number;
  /** The relay process's CPU time over the measured window, per second of it (1.0: one CPU all the time). */
  cpuShare: number;
  /** Packets sent in the window that did not arrive (both directions). */
  lost: number;
  /** --latency: one-way latency of what arrived in the window, per direction. */
  latency?: { vmToVf?: Latency; vfToVm?: Latency };
}

export interface BenchOptions {
  warmupMs: number;
  durationMs: number;
  /** Relays configured on the dataplane; traffic goes through the first `busy`. */
  relays?: number;
  busy?: number;
  /** Each sending side paced to this many packets a second (default: as fast as it can). */
  pps?: number;
  /** Stamp packets and report their one-way latency. */
  latency?: boolean;
  /** More arguments for vio4wd-dataplane (after BENCH_DP_ARGS). */
  dpArgs?: string[];
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5), counted from the state (field 3) here.
  return (Number(f[11]) + Number(f[12])) / 100;
}

function scratch(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'v4b-'));
}

async function waitFile(p: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!fs.existsSync(p)) {
    if (Date.now() > end) throw new Error(`${p} did not appear`);
    await sleep(20);
  }
}

interface Traffic {
  proc: ResultPromise;
  result: Promise<PktgenResult>;
}

/**
 * Starts one pktgen per busy relay; each resolves with its measured window.
 * onWindow runs when the first one's window starts (its warm-up is over).
 */
function startTraffic(dir: string, relays: number[], d: Dir, size: number, o: BenchOptions, onWindow?: () => void): Traffic[] {
  return relays.map((i, k) => {
    const proc = execa(PKTGEN, [
      '--no-huge', '-m', '256', '-l', '0', '--no-pci', '--log-level=3', '--file-prefix', `v4b-gen${i}-${process.pid}`,
      '--vdev', `net_memif${i},role=client,socket=${dir}/m${i}.sock,socket-abstract=no`,
      '--vdev', `net_virtio_user${i},path=${dir}/v${i}.sock`,
      '--', '--vm', `net_virtio_user${i}`, '--vf', `net_memif${i}`, '--dir', d, '--size', String(size),
      '--warmup-ms', String(o.warmupMs), '--duration-ms', String(o.durationMs), '--hold',
      ...(o.pps ? ['--pps', String(Math.round(o.pps))] : []), ...(o.latency ? ['--latency'] : []),
    ], { buffer: false, reject: false, stdin: 'ignore', stderr: 'ignore', stdout: 'pipe' });
    const result = new Promise<PktgenResult>((resolve, reject) => {
      let out = '';
      let windowSeen = false;
      proc.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        const lines = out.split('\n');
        if (!windowSeen && lines.includes('window-start')) {
          windowSeen = true;
          if (k === 0) onWindow?.();
        }
        const line = lines.find((l) => l.startsWith('{') && l.endsWith('}'));
        if (line) resolve(pktgenResult.parse(JSON.parse(line)));
      });
      void proc.then((r) => reject(new Error(`pktgen exited (${String(r.exitCode)}) before reporting`)));
    });
    return { proc, result };
  });
}

async function stopTraffic(t: Traffic[]): Promise<void> {
  for (const x of t) x.proc.kill('SIGTERM');
  for (const x of t) await x.proc;
}

const delivered = (r: PktgenResult, d: Dir) =>
  d === 'vm2vf' ? r.vm_to_vf_mpps : d === 'vf2vm' ? r.vf_to_vm_mpps : r.vm_to_vf_mpps + r.vf_to_vm_mpps;

/** What every relay under test reports, whoever relays. */
function sample(results: PktgenResult[], d: Dir, cyclesPerPacket: number, cpuShare: number): Sample {
  const r0 = results[0];
  return {
    mpps: results.reduce((s, r) => s + delivered(r, d), 0),
    cyclesPerPacket,
    cpuShare,
    // Counted over the window: a packet in flight at its edges is the noise here (tens at most).
    lost: results.reduce((s, r) => s + Math.max(0, r.vm_tx - r.vf_rx) + Math.max(0, r.vf_tx - r.vm_rx), 0),
    ...(r0?.vm_to_vf_latency || r0?.vf_to_vm_latency ? { latency: { vmToVf: r0.vm_to_vf_latency, vfToVm: r0.vf_to_vm_latency } } : {}),
  };
}

/** Measures a process's CPU share over the traffic's window. */
function cpuMeter(pid: number | undefined) {
  let t0 = 0;
  let c0 = 0;
  return {
    start: () => {
      t0 = performance.now();
      c0 = cpuSeconds(pid);
    },
    share: () => (cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000),
  };
}

function relayTotals(s: StatsReply, ids: number[]) {
  let cycles = 0;
  let pkts = 0;
  for (const r of s.relays.filter((x) => ids.includes(x.id))) {
    cycles += r.vf_to_vm.busy_cycles + r.vm_to_vf.busy_cycles;
    pkts += r.vf_to_vm.rx_pkts + r.vm_to_vf.rx_pkts;
  }
  return { cycles, pkts };
}

export async function runVio4wd(d: Dir, size: number, o: BenchOptions): Promise<Sample> {
  const dir = scratch();
  const prefix = `v4b-dp-${process.pid}`;
  const ctl = `${dir}/ctl.sock`;
  const dp = execa(DATAPLANE, ['--no-huge', '-m', (o.relays ?? 1) > 8 ? '3072' : '1024', '-l', '0,1', '--file-prefix', prefix, '-a', '0000:00:00.0', '--log-level=4',
    '--', '--control-socket', ctl, '--vhost-dir', dir, ...(process.env.BENCH_DP_ARGS ?? '').split(' ').filter(Boolean), ...(o.dpArgs ?? [])], { buffer: false, reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
  // Keep the dataplane's last words: if it dies mid-run, the error says how.
  let log = '';
  dp.stderr?.on('data', (b: Buffer) => {
    log = (log + b.toString()).slice(-4000);
    if (process.env.BENCH_DEBUG) process.stderr.write(b);
  });
  let traffic: Traffic[] = [];
  try {
    await waitFile(ctl);
    const client = new DataplaneClient(ctl, 60000);
    await client.connect();
    const n = o.relays ?? 1;
    const busy = Array.from({ length: o.busy ?? 1 }, (_, i) => i);
    for (let i = 0; i < n; i++) {
      await client.addRelay({ id: i, vf: `net_memif${i},role=server,socket=${dir}/m${i}.sock,socket-abstract=no`, vhostPath: `${dir}/v${i}.sock`, vhostClient: false });
    }
    const before = relayTotals(await client.stats(), busy);
    const cpu = cpuMeter(dp.pid);
    traffic = startTraffic(dir, busy, d, size, o, cpu.start);
    const results = await Promise.all(traffic.map((t) => t.result));
    const cpuShare = cpu.share();
    const after = relayTotals(await client.stats(), busy);
    // Stop the relay before its memif peers go: DPDK 22.11's memif PMD unmaps
    // a ring on disconnect without waiting for a poller still inside it.
    await client.shutdown();
    client.close();
    await dp;
    await stopTraffic(traffic);
    traffic = [];
    return sample(results, d, (after.cycles - before.cycles) / Math.max(1, after.pkts - before.pkts), cpuShare);
  } catch (e) {
    dp.kill('SIGKILL');
    const r = await dp;
    throw new Error(`${e instanceof Error ? e.message : String(e)}; dataplane exit ${String(r.exitCode)} signal ${String(r.signal)}; last log:\n${log}`);
  } finally {
    await stopTraffic(traffic);
    dp.kill('SIGKILL');
    await dp;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(`/var/run/dpdk/${prefix}`, { recursive: true, force: true });
  }
}

export async function runTestpmd(d: Dir, size: number, o: BenchOptions): Promise<Sample> {
  const dir = scratch();
  const prefix = `v4b-tp-${process.pid}`;
  const tp = execa('dpdk-testpmd', ['--no-huge', '-m', '1024', '-l', '0,1', '--no-pci', '--file-prefix', prefix, '--log-level=4',
    '--vdev', `net_memif0,role=server,socket=${dir}/m0.sock,socket-abstract=no`, '--vdev', `net_vhost0,iface=${dir}/v0.sock`,
    '--', '--forward-mode=io', '--auto-start', '--stats-period=3600', '--record-core-cycles', '--nb-cores=1', '--total-num-mbufs=16384'],
  { buffer: false, reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'ignore' });
  let out = '';
  tp.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  let traffic: Traffic[] = [];
  try {
    await waitFile(`${dir}/v0.sock`);
    await waitFile(`${dir}/m0.sock`);
    const cpu = cpuMeter(tp.pid);
    traffic = startTraffic(dir, [0], d, size, o, cpu.start);
    const results = await Promise.all(traffic.map((t) => t.result));
    const cpuShare = cpu.share();
    // Read testpmd's cycles while the traffic still runs (port counters reset on disconnect).
    tp.kill('SIGINT');
    await tp;
    await stopTraffic(traffic);
    traffic = [];
    const m = /CPU cycles\/packet=([\d.]+)/.exec(out);
    if (!m) throw new Error(`no testpmd figures:\n${out.slice(-2000)}`);
    return sample(results, d, Number(m[1]), cpuShare);
  } finally {
    await stopTraffic(traffic);
    tp.kill('SIGKILL');
    await tp;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(`/var/run/dpdk/${prefix}`, { recursive: true, force: true });
  }
}
