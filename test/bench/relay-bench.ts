// Benchmark: vio4wd-dataplane against dpdk-testpmd (io forwarding over
// net_vhost + memif) as the relay, same topology, same run: relays taking
// turns (runTurns), or one relay's whole run (runVio4wd). A traffic process
// (vio4wd-pktgen) owns both outer ports of a relay: virtio_user on its
// vhost-user socket and a memif client to its VF (a memif server). Relay
// worker on CPU 1, traffic on CPU 0.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { z } from 'zod';
import { DataplaneClient, MetricsServer, type StatsReply } from '@vio4wd/common';
import { ForwarderMetrics, type RelaySpec } from '@vio4wd/forwarder';
import { DATAPLANE, ROOT } from '../lib/forwarder.js';
import { checkSameFeatures, decodeFeatures, parseFeatures, virtioUserArgs } from './features.js';
import { ovsRoot, startOvs } from './ovs.js';

/** How to get the third contestant. */
export const OVS_INSTALL = 'sudo bash deploy/ovs-tools.sh (Debian\'s openvswitch-switch-dpdk, unpacked into /var/cache/vio4wd; no service)';

const PKTGEN = path.join(ROOT, 'build/dataplane/vio4wd-pktgen');
const STALL_PROBE = path.join(ROOT, 'build/dataplane/vio4wd-stall-probe');

const stallReport = z.object({
  cpu: z.number(),
  lost_share: z.number(),
  stalls_per_s: z.number(),
  long_stalls_per_s: z.number(),
  longest_us: z.number(),
  window_lost_min: z.number(),
  window_lost_max: z.number(),
});

/**
 * How much of CPUs 0 and 1 the host takes away from a thread that never
 * yields (vio4wd-stall-probe on both at once, nothing else of ours running):
 * one comment line per CPU, for the figures a bench prints to be read
 * against. windowMs: the bench's measuring window.
 */
export async function hostStalls(ms: number, windowMs: number): Promise<string[]> {
  const runs = await Promise.all([0, 1].map((cpu) => execa(STALL_PROBE, [String(cpu), String(ms), String(windowMs)])));
  return runs.map((r) => {
    const s = stallReport.parse(JSON.parse(r.stdout));
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
    return `# host, CPU ${s.cpu}: stalls of 10 us or more take ${pct(s.lost_share)} of the time (${pct(s.window_lost_min)}-${pct(s.window_lost_max)} ` +
      `in ${windowMs} ms windows), ${s.stalls_per_s.toFixed(0)} a second, ${s.long_stalls_per_s.toFixed(0)} of 50 us or more; the longest ${s.longest_us.toFixed(0)} us`;
  });
}

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
});
type PktgenResult = z.infer<typeof pktgenResult>;

export interface Sample {
  mpps: number;
  cyclesPerPacket: number;
  /** The relay process's CPU time over the measured window, per second of it (1.0: one CPU all the time). */
  cpuShare: number;
  /** Packets sent in the window that did not arrive (both directions). */
  lost: number;
}

export interface BenchOptions {
  warmupMs: number;
  /** Mergeable buffers offered by our dataplane (default: as FEATURES). */
  mrgbuf?: boolean;
  durationMs: number;
  /** Relays configured on the dataplane; traffic goes through the first `busy`. */
  relays?: number;
  busy?: number;
  /** runTurns: each sending side paced to this many packets a second (default: as fast as it can). */
  pps?: number;
  /** runTurns: stamp packets and report their one-way latency. */
  latency?: boolean;
  /** More arguments for vio4wd-dataplane (after BENCH_DP_ARGS). */
  dpArgs?: string[];
  /** Every process on 2 MiB pages (else 4 KiB). */
  hugepages?: boolean;
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5), counted from the state (field 3) here.
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * EAL memory: on 2 MiB pages (o.hugepages: at most 512 MB a process; in
 * memory, nothing left behind; one segment file each, which vhost-user
 * shares), else on 4 KiB pages.
 */
const memory = (mb: number, o: BenchOptions) =>
  (o.hugepages ? ['--in-memory', '--single-file-segments', '-m', String(Math.min(mb, 512))] : ['--no-huge', '-m', String(mb)]);

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

/** The EAL file prefix of the pktgen of relay i (tag: which of several relays under test). */
const pktgenPrefix = (tag: string, i: number) => `v4b-gen${tag}${i}-${process.pid}`;

/** The features of every contestant (BENCH_FEATURES; default: the shipped ones). */
export const FEATURES = parseFeatures(process.env.BENCH_FEATURES);

/** The vdevs of relay i's outer ports: its VM (virtio_user, listening as QEMU does with server=on) and its VF's peer (memif client). */
const peerVdevs = (dir: string, i: number, extra = '') => [
  '--vdev', `net_memif${i},role=client,socket=${dir}/m${i}.sock,socket-abstract=no`,
  '--vdev', `net_virtio_user${i},path=${dir}/v${i}.sock,server=1,${virtioUserArgs(FEATURES)}${extra}`,
];

/**
 * A pktgen on CPU 0 owning relay i's outer ports in dir. vfQueues: receive
 * queues on the VF's peer (a relay that transmits on another queue than 0).
 */
function spawnPktgen(dir: string, i: number, tag: string, d: Dir, size: number, o: BenchOptions, mode: string[], vfQueues = 1) {
  return execa(PKTGEN, [
    ...memory(256, o), '-l', '0', '--no-pci', '--log-level=3', '--file-prefix', pktgenPrefix(tag, i), ...peerVdevs(dir, i),
    '--', '--vm', `net_virtio_user${i}`, '--vf', `net_memif${i}`, '--dir', d, '--size', String(size),
    '--warmup-ms', String(o.warmupMs), '--vf-queues', String(vfQueues), ...mode,
  ], { buffer: false, reject: false, stdin: 'ignore', stderr: process.env.BENCH_DEBUG ? 'inherit' : 'ignore', stdout: 'pipe' });
}

/**
 * The peers of idle relays ids (one pktgen --idle on CPU 0): each relay's VM
 * connected with its queues enabled and its VF up, and no packet; resolves
 * once every link is up. 4 KiB pages: 128 ports' rings would not fit the
 * 2 MiB pages a bench reserves.
 */
function startIdlePeers(dir: string, tag: string, ids: number[]): { proc: ResultPromise; ready: Promise<void> } {
  const proc = execa(PKTGEN, [
    '--no-huge', '-m', String(64 + 8 * ids.length), '-l', '0', '--no-pci', '--log-level=3', '--file-prefix', pktgenPrefix(`${tag}idle`, 0),
    ...ids.flatMap((i) => peerVdevs(dir, i, ',queue_size=256')), '--', '--idle',
  ], { buffer: false, reject: false, stdin: 'ignore', stderr: 'pipe', stdout: 'pipe' });
  let out = '';
  let err = '';
  proc.stderr?.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-3000)));
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes(`idle-ready ${2 * ids.length}\n`)) resolve();
    });
    void proc.then((r) => reject(new Error(`the idle relays' peers exited (${String(r.exitCode)}, ${String(r.signal)}) before all were up:\n${out}${err}`)));
  });
  return { proc, ready };
}

/**
 * Starts one pktgen per busy relay; each resolves with its measured window.
 * onWindow runs when the first one's window starts (its warm-up is over).
 */
function startTraffic(dir: string, relays: number[], d: Dir, size: number, o: BenchOptions, onWindow?: () => void): Traffic[] {
  return relays.map((i, k) => {
    const proc = spawnPktgen(dir, i, '', d, size, o, ['--duration-ms', String(o.durationMs), '--hold']);
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

/** What a direction under test delivered, from the two one-way rates. */
const byDir = (d: Dir, vmToVf: number, vfToVm: number) => (d === 'vm2vf' ? vmToVf : d === 'vf2vm' ? vfToVm : vmToVf + vfToVm);
const delivered = (r: PktgenResult, d: Dir) => byDir(d, r.vm_to_vf_mpps, r.vf_to_vm_mpps);

/** What every relay under test reports, whoever relays. */
function sample(results: PktgenResult[], d: Dir, cyclesPerPacket: number, cpuShare: number): Sample {
  return {
    mpps: results.reduce((s, r) => s + delivered(r, d), 0),
    cyclesPerPacket,
    cpuShare,
    // Counted over the window: a packet in flight at its edges is the noise here (tens at most).
    lost: results.reduce((s, r) => s + Math.max(0, r.vm_tx - r.vf_rx) + Math.max(0, r.vf_tx - r.vm_rx), 0),
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

/** The features as our dataplane's options (mrgbuf: a contestant's own, to show a mismatch refused). */
const featureArgs = (mrgbuf = FEATURES.mrgRxbuf) => [...(FEATURES.jumbo ? ['--jumbo'] : []), ...(mrgbuf ? ['--mrgbuf'] : [])];

/** vio4wd-dataplane (A): control on CPU 0, its worker on CPU 1; control socket dir/ctl.sock. */
function spawnDataplane(dir: string, prefix: string, o: BenchOptions) {
  return execa(DATAPLANE, [...memory((o.relays ?? 1) > 8 ? 3072 : 1024, o), '-l', '0,1', '--file-prefix', prefix, '-a', '0000:00:00.0', '--log-level=4',
    '--', '--control-socket', `${dir}/ctl.sock`, '--vhost-dir', dir, ...featureArgs(o.mrgbuf),
    ...(process.env.BENCH_DP_ARGS ?? '').split(' ').filter(Boolean), ...(o.dpArgs ?? [])],
  { buffer: false, reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
}

/**
 * Relay i of a dataplane: its VF a memif server in dir, its VM's socket
 * there too; vhost-user client mode, as shipped (VIRTIOFWD_VHOST_CLIENT=true):
 * the VM listens.
 */
const benchRelay = (dir: string, i: number) =>
  ({ id: i, vf: `net_memif${i},role=server,socket=${dir}/m${i}.sock,socket-abstract=no`, vhostPath: `${dir}/v${i}.sock`, vhostClient: true });

/**
 * dpdk-testpmd io forwarding (B) over the same ports: its forwarding lcore on
 * CPU 1; interactive, commands on stdin. Its vhost library says at info
 * level what the VM negotiated.
 */
function spawnTestpmd(dir: string, prefix: string, o: BenchOptions) {
  // Jumbo as ours: frames in segment chains (multi-segment transmit). The
  // MTU stays memif's largest, 1500 (testpmd refuses more; ours and OVS ask
  // for 9000 and get 1500 on memif).
  const jumbo = FEATURES.jumbo ? ['--tx-offloads=0x8000'] : [];
  // Line-buffered: its figures are printf()s, its prompt is not.
  return execa('stdbuf', ['-oL', 'dpdk-testpmd', ...memory(1024, o), '-l', '0,1', '--no-pci', '--file-prefix', prefix,
    // The vhost library's configuration at info: what was negotiated (a
    // global level, or a '*:warning' beside it, would hide that line).
    '--log-level=lib.vhost.config:info',
    '--vdev', `net_memif0,role=server,socket=${dir}/m0.sock,socket-abstract=no`, '--vdev', `net_vhost0,iface=${dir}/v0.sock,client=1`,
    '--', '--forward-mode=io', '--auto-start', '-i', '--record-core-cycles', '--nb-cores=1', '--total-num-mbufs=16384', ...jumbo],
  { buffer: false, reject: false, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
}

/** testpmd's busy cycles per packet, from its forwarding stats (`show fwd stats all`). */
function testpmdCycles(out: string): number {
  const m = /CPU cycles\/packet=([\d.]+)/.exec(out);
  if (!m) throw new Error(`no testpmd figures:\n${out.slice(-2000)}`);
  return Number(m[1]);
}

export async function runVio4wd(d: Dir, size: number, o: BenchOptions): Promise<Sample> {
  const dir = scratch();
  const prefix = `v4b-dp-${process.pid}`;
  const ctl = `${dir}/ctl.sock`;
  const dp = spawnDataplane(dir, prefix, o);
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
      await client.addRelay(benchRelay(dir, i));
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
    for (let i = 0; i < (o.busy ?? 1); i++) fs.rmSync(`/var/run/dpdk/${pktgenPrefix('', i)}`, { recursive: true, force: true });
  }
}

const totals = z.object({
  t_ns: z.number(), vm_tx: z.number(), vf_rx: z.number(), vf_tx: z.number(), vm_rx: z.number(),
  vm_to_vf_latency: latency.optional(), vf_to_vm_latency: latency.optional(),
});
type Totals = z.infer<typeof totals>;

/** A pktgen in --sample mode: its totals on demand (SIGUSR1 -> one JSON line). */
function sampler(proc: ResultPromise) {
  let waiting: ((t: Totals) => void) | null = null;
  let windowStarted: () => void = () => undefined;
  const window = new Promise<void>((resolve) => {
    windowStarted = resolve;
  });
  let out = '';
  proc.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    const parts = out.split('\n');
    out = parts.pop() ?? '';
    for (const l of parts) {
      if (l === 'window-start') windowStarted();
      else if (l.startsWith('{')) waiting?.(totals.parse(JSON.parse(l)));
    }
  });
  const exited = proc.then((r) => {
    throw new Error(`pktgen exited (${String(r.exitCode)}, ${String(r.signal)})`);
  });
  exited.catch(() => undefined);
  return {
    /** The end of its warm-up. */
    window: Promise.race([window, exited]),
    totals: async (): Promise<Totals> => {
      const next = new Promise<Totals>((resolve) => {
        waiting = (t) => {
          waiting = null;
          resolve(t);
        };
      });
      proc.kill('SIGUSR1');
      return Promise.race([next, exited, sleep(10000).then(() => {
        throw new Error('pktgen did not report its totals within 10 s');
      })]);
    },
  };
}

const deliveredBetween = (a: Totals, b: Totals, d: Dir) => {
  const s = (b.t_ns - a.t_ns) / 1e9;
  return byDir(d, (b.vf_rx - a.vf_rx) / s / 1e6, (b.vm_rx - a.vm_rx) / s / 1e6);
};

/**
 * A relay under test: vio4wd-dataplane (with these options), dpdk-testpmd io
 * forwarding, or OVS-DPDK (ovs.ts). vio4wd: relays configured (default 1),
 * busy of them (the first; default 1) carry traffic, each from a pktgen of
 * its own, and the others are idle with their VMs connected and their VFs
 * up (one pktgen --idle); scrapeMs: while it runs, the supervisor's metrics
 * of all of them are scraped that often, as Prometheus scrapes them (the
 * supervisor's own code, over HTTP).
 */
export type Contestant =
  | { kind: 'vio4wd'; dpArgs?: string[]; relays?: number; busy?: number; scrapeMs?: number; mrgbuf?: boolean }
  | { kind: 'testpmd' }
  | { kind: 'ovs' };

export const contestantName = (c: Contestant) => (c.kind === 'vio4wd' ? 'vio4wd' : c.kind === 'testpmd' ? 'testpmd' : 'OVS-DPDK');

/** Scrapes done while a contestant ran, and those that failed (the first failure's reason). */
export interface ScrapeCount {
  ok: number;
  failed: number;
  bytes: number;
  firstError?: string;
}

/**
 * The supervisor's metrics over a dataplane's relays, served on a unix
 * socket and scraped every `everyMs` while running (start/stop). Every
 * scrape must answer 200 with the relays' series: count() says how many did
 * and did not.
 */
async function metricsScraper(client: DataplaneClient, dir: string, ids: number[], everyMs: number) {
  const specs: RelaySpec[] = ids.map((i) => {
    const r = benchRelay(dir, i);
    return { id: i, pcis: [`0000:fe:00.${i % 8}`], devices: [r.vf], vhostPath: r.vhostPath, vhostClient: true, origin: 'add_sock' as const, ident: `bench-${i}` };
  });
  const metrics = new ForwarderMetrics({
    desired: () => specs, unplugged: () => undefined, sample: () => client.stats(),
    generation: () => 1, plugs: () => 1, dpdkRelease: () => 'bench',
  });
  const server = new MetricsServer({ kind: 'unix', socket: `${dir}/metrics.sock`, path: '/metrics' }, { scrape: () => metrics.scrape() });
  await server.start();
  let timer: NodeJS.Timeout | undefined;
  const count: ScrapeCount = { ok: 0, failed: 0, bytes: 0 };
  const inFlight = new Set<Promise<void>>();
  // The last relay's received-packets series: a scrape that has it has them all.
  const lastSeries = `ident="bench-${ids[ids.length - 1] ?? 0}"`;
  const scrapeOnce = () => new Promise<void>((resolve, reject) => {
    http.get({ socketPath: `${dir}/metrics.sock`, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`status ${String(res.statusCode)}: ${body.slice(0, 200)}`));
        else if (!body.includes(lastSeries)) reject(new Error(`no series of relay ${String(ids[ids.length - 1])} in ${body.length} bytes`));
        else {
          count.bytes += body.length;
          resolve();
        }
      });
      res.on('error', reject);
    }).on('error', reject);
  });
  const tick = () => {
    const p = scrapeOnce().then(() => {
      count.ok++;
    }, (e: unknown) => {
      count.failed++;
      count.firstError ??= e instanceof Error ? e.message : String(e);
    }).finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  return {
    start: () => {
      clearInterval(timer);
      timer = setInterval(tick, everyMs);
    },
    stop: () => clearInterval(timer),
    count: () => ({ ...count }),
    close: async () => {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      await server.stop();
    },
  };
}

/** One slice of one contestant. */
export interface Slice {
  mpps: number;
  /** Packets sent in the window that did not arrive in it, both directions (those in flight at its edges: tens). */
  lost: number;
  /** Busy cycles per packet (read around the window). */
  cycles: number;
  /** The relay process's CPU time over the window, per second of it. */
  cpuShare: number;
  /** --latency: what arrived in the window, per direction. */
  latency?: { vmToVf?: Latency; vfToVm?: Latency };
}

export interface TurnOptions extends BenchOptions {
  /** Slices per contestant. */
  slices: number;
  /** After a contestant resumes, before its window. */
  settleMs: number;
}

/** What runTurns measured, per contestant in the order given. */
export interface Turns {
  slices: Slice[][];
  /** The virtio features its VM connection negotiated (all equal, else runTurns throws). */
  features: number[];
  /** Contestants with scrapeMs: the scrapes done while they ran (all succeeded, else runTurns throws). */
  scrapes: (ScrapeCount | undefined)[];
  /** OVS: its configuration and a pmd-perf-show at the end. */
  notes: string[];
}

/**
 * The contestants all set up side by side, each with its own traffic, and
 * taking turns: while one relay and its pktgen run (relay on CPU 1, pktgen
 * on CPU 0), the others are stopped (SIGSTOP) and take no CPU; each turn
 * settles for settleMs, then measures durationMs. Slice k of every
 * contestant is measured within a second or two of the others' (the order
 * rotates from slice to slice), so a slow phase of the host lands on all of
 * them: the ratio of slices taken back to back is steadier than that of
 * whole runs minutes apart, and there are many more of them for the time.
 * Refuses (throws) when the contestants' VM connections negotiated
 * different virtio features, or when a scrape failed.
 */
export async function runTurns(contestants: Contestant[], d: Dir, size: number, o: TurnOptions): Promise<Turns> {
  const procs: ResultPromise[] = [];
  const dirs: string[] = [];
  const prefixes: string[] = [];
  // A process that has already gone is not an error here: its result says why.
  const signal = (p: ResultPromise, sig: NodeJS.Signals) => {
    if (p.exitCode !== null || p.pid === undefined) return;
    try {
      process.kill(p.pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  };
  interface Gen {
    proc: ResultPromise;
    s: ReturnType<typeof sampler>;
  }
  interface Turn {
    name: string;
    relay: ResultPromise;
    /** While it runs (a scraper of its metrics). */
    running?: { start(): void; stop(): void; count(): ScrapeCount; close(): Promise<void> };
    /** One pktgen per busy relay. */
    gens: Gen[];
    /** Processes stopped with the relay (idle peers). */
    others: ResultPromise[];
    /** What its VM connection negotiated (read once the traffic runs). */
    features: () => Promise<number>;
    /** Starts counting the relay's busy cycles; the returned function gives them per packet since. */
    cyclesFrom: () => Promise<() => Promise<number>>;
    /** Stops the relay (before its memif peer goes: see runVio4wd). */
    stop: () => Promise<void>;
    note?: () => Promise<string>;
    slices: Slice[];
  }
  const pause = (x: Turn) => {
    x.running?.stop();
    for (const g of x.gens) signal(g.proc, 'SIGSTOP');
    for (const p of x.others) signal(p, 'SIGSTOP');
    signal(x.relay, 'SIGSTOP');
  };
  const resume = (x: Turn) => {
    signal(x.relay, 'SIGCONT');
    for (const p of x.others) signal(p, 'SIGCONT');
    for (const g of x.gens) signal(g.proc, 'SIGCONT');
    x.running?.start();
  };
  const pktgenMode = ['--sample', ...(o.pps ? ['--pps', String(Math.round(o.pps))] : []), ...(o.latency ? ['--latency'] : [])];
  const gen = (dir: string, i: number, tag: string, vfQueues = 1): Gen => {
    const proc = spawnPktgen(dir, i, tag, d, size, o, pktgenMode, vfQueues);
    procs.push(proc);
    prefixes.push(pktgenPrefix(tag, i));
    return { proc, s: sampler(proc) };
  };

  async function startVio4wd(dir: string, tag: string, c: Extract<Contestant, { kind: 'vio4wd' }>): Promise<Turn> {
    const prefix = `v4b-dp${tag}-${process.pid}`;
    prefixes.push(prefix);
    const n = c.relays ?? 1;
    const busy = Array.from({ length: Math.min(n, c.busy ?? 1) }, (_, i) => i);
    const dp = spawnDataplane(dir, prefix, { ...o, relays: n, dpArgs: [...(o.dpArgs ?? []), ...(c.dpArgs ?? [])], mrgbuf: c.mrgbuf });
    procs.push(dp);
    await waitFile(`${dir}/ctl.sock`);
    const client = new DataplaneClient(`${dir}/ctl.sock`, 60000);
    await client.connect();
    for (let i = 0; i < n; i++) await client.addRelay(benchRelay(dir, i));
    const others: ResultPromise[] = [];
    if (n > busy.length) {
      prefixes.push(pktgenPrefix(`${tag}idle`, 0));
      const idle = startIdlePeers(dir, tag, Array.from({ length: n - busy.length }, (_, i) => busy.length + i));
      // Known to the cleanup before it is up: a failure to come up must still end it.
      procs.push(idle.proc);
      others.push(idle.proc);
      await idle.ready;
      // Every idle relay sees its VM (the relay side's view, not only the peer's).
      const end = Date.now() + 30000;
      for (;;) {
        const st = await client.stats();
        const up = st.relays.filter((r) => r.id >= busy.length && r.connected && r.vf_up).length;
        if (up === n - busy.length) break;
        if (Date.now() > end) throw new Error(`vio4wd: ${up} of ${n - busy.length} idle relays have their VM connected and VF up after 30 s`);
        await sleep(100);
      }
    }
    const running = c.scrapeMs ? await metricsScraper(client, dir, Array.from({ length: n }, (_, i) => i), c.scrapeMs) : undefined;
    const gens = busy.map((i) => gen(dir, i, tag));
    return {
      name: contestantName(c), relay: dp, gens, others, slices: [], running,
      features: async () => {
        const fs0 = (await client.stats()).relays.filter((r) => busy.includes(r.id)).map((r) => r.vhost_features);
        if (fs0.some((x) => x !== fs0[0])) throw new Error(`vio4wd's busy relays negotiated different features: ${fs0.map(decodeFeatures).join(', ')}`);
        return fs0[0] ?? 0;
      },
      cyclesFrom: async () => {
        const c0 = relayTotals(await client.stats(), busy);
        return async () => {
          const c1 = relayTotals(await client.stats(), busy);
          return (c1.cycles - c0.cycles) / Math.max(1, c1.pkts - c0.pkts);
        };
      },
      stop: async () => {
        await running?.close();
        await client.shutdown();
        client.close();
        await dp;
      },
    };
  }

  async function startTestpmd(dir: string, tag: string): Promise<Turn> {
    const prefix = `v4b-tp${tag}-${process.pid}`;
    prefixes.push(prefix);
    const tp = spawnTestpmd(dir, prefix, o);
    procs.push(tp);
    let out = '';
    tp.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    // DPDK's log (the negotiated features) comes on stderr.
    let log = '';
    tp.stderr?.on('data', (b: Buffer) => {
      log += b.toString();
    });
    /** One testpmd command; what it printed up to its next prompt. */
    const cmd = async (line: string): Promise<string> => {
      const from = out.length;
      tp.stdin?.write(`${line}\n`);
      const deadline = Date.now() + 10000;
      while (!out.slice(from).includes('testpmd> ')) {
        if (tp.exitCode !== null || Date.now() > deadline) throw new Error(`testpmd did not answer '${line}':\n${out.slice(-2000)}`);
        await sleep(2);
      }
      return out.slice(from);
    };
    await waitFile(`${dir}/m0.sock`);
    return {
      name: 'testpmd', relay: tp, gens: [gen(dir, 0, tag)], others: [], slices: [],
      features: async () => {
        // Its vhost library's line at info level (lib.vhost.config): the last connection's.
        const all = [...log.matchAll(/negotiated Virtio features: 0x([0-9a-f]+)/g)];
        const m = all[all.length - 1];
        if (!m?.[1]) throw new Error(`testpmd did not log the negotiated virtio features:\n${log.slice(-2000)}`);
        return parseInt(m[1], 16);
      },
      cyclesFrom: async () => {
        await cmd('clear fwd stats all');
        return async () => testpmdCycles(await cmd('show fwd stats all'));
      },
      stop: async () => {
        tp.stdin?.write('quit\n');
        await tp;
      },
    };
  }

  async function startOvsTurn(dir: string, tag: string): Promise<Turn> {
    const root = ovsRoot();
    if (!root) throw new Error(`OVS-DPDK is not unpacked: ${OVS_INSTALL}`);
    if (!o.hugepages) throw new Error('OVS-DPDK runs on 2 MiB pages only (it adds --in-memory, which --no-huge excludes)');
    const prefix = `v4b-ovs${tag}-${process.pid}`;
    prefixes.push(prefix);
    const ovs = await startOvs(root, {
      dir, eal: ['--single-file-segments', '-m', '512'], filePrefix: prefix, pmdCpu: 1, jumbo: FEATURES.jumbo,
      vfDevargs: `net_memif0,role=server,socket=${dir}/m0.sock,socket-abstract=no`, vhostPath: `${dir}/v0.sock`,
    });
    procs.push(...ovs.procs);
    await waitFile(`${dir}/m0.sock`);
    // Its PMD thread sends on transmit queue 1 (queue 0 is its main thread's): the peer reads both.
    return {
      name: 'OVS-DPDK', relay: ovs.vswitchd, gens: [gen(dir, 0, tag, 2)], others: [], slices: [],
      features: () => ovs.features(30000),
      cyclesFrom: () => ovs.cyclesFrom(),
      stop: () => ovs.stop(),
      note: async () => `${await ovs.describe()}\n${await ovs.appctl('dpif-netdev/pmd-perf-show')}`,
    };
  }

  try {
    const turns: Turn[] = [];
    const features: number[] = [];
    for (const [i, c] of contestants.entries()) {
      const dir = scratch();
      dirs.push(dir);
      const tag = String.fromCharCode(65 + i);
      const t = c.kind === 'vio4wd' ? await startVio4wd(dir, tag, c) : c.kind === 'testpmd' ? await startTestpmd(dir, tag) : await startOvsTurn(dir, tag);
      for (const g of t.gens) await g.s.window;
      // While it runs: a stopped relay answers nothing.
      features.push(await t.features());
      pause(t);
      turns.push(t);
    }
    checkSameFeatures(turns.map((x, k) => ({ name: x.name, features: features[k] ?? 0 })));
    for (let k = 0; k < o.slices; k++) {
      for (let j = 0; j < turns.length; j++) {
        const x = turns[(j + k) % turns.length];
        if (!x) continue;
        resume(x);
        // Settle: what a stop left half done (a burst, its cycles, packets in the rings) is counted before the window.
        await sleep(o.settleMs);
        const cycles = await x.cyclesFrom();
        const cpu = cpuMeter(x.relay.pid);
        const t0 = await Promise.all(x.gens.map((g) => g.s.totals()));
        cpu.start();
        await sleep(o.durationMs);
        const t1 = await Promise.all(x.gens.map((g) => g.s.totals()));
        const cpuShare = cpu.share();
        let mpps = 0;
        let lost = 0;
        for (const [g, a] of t0.entries()) {
          const b = t1[g];
          if (!b) continue;
          mpps += deliveredBetween(a, b, d);
          lost += Math.max(0, (b.vm_tx - a.vm_tx) - (b.vf_rx - a.vf_rx)) + Math.max(0, (b.vf_tx - a.vf_tx) - (b.vm_rx - a.vm_rx));
        }
        const slice: Slice = { mpps, lost, cycles: await cycles(), cpuShare };
        const l = t1[0];
        if (l?.vm_to_vf_latency || l?.vf_to_vm_latency) slice.latency = { vmToVf: l.vm_to_vf_latency, vfToVm: l.vf_to_vm_latency };
        pause(x);
        x.slices.push(slice);
      }
    }
    const notes: string[] = [];
    for (const x of turns) {
      resume(x);
      notes.push(x.note ? await x.note() : '');
      await x.stop();
    }
    const scrapes = turns.map((x) => x.running?.count());
    for (const [k, sc] of scrapes.entries()) {
      if (sc && (sc.failed > 0 || sc.ok === 0)) {
        throw new Error(`${turns[k]?.name ?? '?'}: ${sc.failed} of ${sc.ok + sc.failed} metrics scrapes failed (first: ${sc.firstError ?? 'none done'})`);
      }
    }
    return { slices: turns.map((x) => x.slices), features, scrapes, notes };
  } finally {
    for (const p of procs) {
      signal(p, 'SIGCONT');
      p.kill('SIGKILL');
    }
    for (const p of procs) await p;
    for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
    for (const x of prefixes) fs.rmSync(`/var/run/dpdk/${x}`, { recursive: true, force: true });
  }
}
