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

/** A pktgen on CPU 0 owning relay i's outer ports in dir: its VM (virtio_user) and its VF's peer (memif). */
function spawnPktgen(dir: string, i: number, tag: string, d: Dir, size: number, o: BenchOptions, mode: string[]) {
  return execa(PKTGEN, [
    ...memory(256, o), '-l', '0', '--no-pci', '--log-level=3', '--file-prefix', pktgenPrefix(tag, i),
    '--vdev', `net_memif${i},role=client,socket=${dir}/m${i}.sock,socket-abstract=no`,
    '--vdev', `net_virtio_user${i},path=${dir}/v${i}.sock`,
    '--', '--vm', `net_virtio_user${i}`, '--vf', `net_memif${i}`, '--dir', d, '--size', String(size),
    '--warmup-ms', String(o.warmupMs), ...mode,
  ], { buffer: false, reject: false, stdin: 'ignore', stderr: process.env.BENCH_DEBUG ? 'inherit' : 'ignore', stdout: 'pipe' });
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

/** vio4wd-dataplane (A): control on CPU 0, its worker on CPU 1; control socket dir/ctl.sock. */
function spawnDataplane(dir: string, prefix: string, o: BenchOptions) {
  return execa(DATAPLANE, [...memory((o.relays ?? 1) > 8 ? 3072 : 1024, o), '-l', '0,1', '--file-prefix', prefix, '-a', '0000:00:00.0', '--log-level=4',
    '--', '--control-socket', `${dir}/ctl.sock`, '--vhost-dir', dir, ...(process.env.BENCH_DP_ARGS ?? '').split(' ').filter(Boolean), ...(o.dpArgs ?? [])],
  { buffer: false, reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
}

/** Relay i of a dataplane: its VF a memif server in dir, its VM socket there too (server mode). */
const benchRelay = (dir: string, i: number) =>
  ({ id: i, vf: `net_memif${i},role=server,socket=${dir}/m${i}.sock,socket-abstract=no`, vhostPath: `${dir}/v${i}.sock`, vhostClient: false });

/**
 * dpdk-testpmd io forwarding (B) over the same ports: its forwarding lcore on
 * CPU 1; interactive, commands on stdin.
 */
function spawnTestpmd(dir: string, prefix: string, o: BenchOptions) {
  // Line-buffered: its figures are printf()s, its prompt is not.
  return execa('stdbuf', ['-oL', 'dpdk-testpmd', ...memory(1024, o), '-l', '0,1', '--no-pci', '--file-prefix', prefix, '--log-level=4',
    '--vdev', `net_memif0,role=server,socket=${dir}/m0.sock,socket-abstract=no`, '--vdev', `net_vhost0,iface=${dir}/v0.sock`,
    '--', '--forward-mode=io', '--auto-start', '-i', '--record-core-cycles', '--nb-cores=1', '--total-num-mbufs=16384'],
  { buffer: false, reject: false, stdin: 'pipe', stdout: 'pipe', stderr: 'ignore' });
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

/** A relay under test: vio4wd-dataplane (with these options) or dpdk-testpmd io forwarding. */
/**
 * relays: configured in the dataplane (relay 0 carries the traffic, the others
 * are idle); scrapeMs: while it runs, its metrics are scraped that often, as
 * Prometheus scrapes the supervisor's (the supervisor's own code, over HTTP).
 */
export type Contestant = { kind: 'vio4wd'; dpArgs?: string[]; relays?: number; scrapeMs?: number } | { kind: 'testpmd' };

/**
 * The supervisor's metrics over a dataplane's relays, served on a unix
 * socket and scraped every `everyMs` while running (start/stop).
 */
async function metricsScraper(client: DataplaneClient, dir: string, ids: number[], everyMs: number) {
  const specs: RelaySpec[] = ids.map((i) => {
    const r = benchRelay(dir, i);
    return { id: i, pcis: [`0000:fe:00.${i % 8}`], devices: [r.vf], vhostPath: r.vhostPath, vhostClient: false, origin: 'add_sock' as const, ident: `bench-${i}` };
  });
  const metrics = new ForwarderMetrics({
    desired: () => specs, unplugged: () => undefined, sample: () => client.stats(),
    generation: () => 1, plugs: () => 1, dpdkRelease: () => 'bench',
  });
  const server = new MetricsServer({ kind: 'unix', socket: `${dir}/metrics.sock`, path: '/metrics' }, { scrape: () => metrics.scrape() });
  await server.start();
  let timer: NodeJS.Timeout | undefined;
  let scrapes = 0;
  let bytes = 0;
  const scrapeOnce = () => new Promise<void>((resolve, reject) => {
    http.get({ socketPath: `${dir}/metrics.sock`, path: '/metrics' }, (res) => {
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => {
        scrapes++;
        resolve();
      });
    }).on('error', reject);
  });
  return {
    start: () => {
      timer = setInterval(() => void scrapeOnce().catch(() => undefined), everyMs);
    },
    stop: () => clearInterval(timer),
    stats: () => ({ scrapes, bytes }),
    close: () => server.stop(),
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

/**
 * The contestants all set up side by side, each with its own traffic, and
 * taking turns: while one relay and its pktgen run (relay on CPU 1, pktgen
 * on CPU 0), the others are stopped (SIGSTOP) and take no CPU; each turn
 * settles for settleMs, then measures durationMs. Slice k of every
 * contestant is measured within a second or two of the others' (the order
 * rotates from slice to slice), so a slow phase of the host lands on all of
 * them: the ratio of slices taken back to back is steadier than that of
 * whole runs minutes apart, and there are many more of them for the time.
 * Returns each contestant's slices, in the order given.
 */
export async function runTurns(contestants: Contestant[], d: Dir, size: number, o: TurnOptions): Promise<Slice[][]> {
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
  interface Turn {
    relay: ResultPromise;
    /** While it runs (a scraper of its metrics). */
    running?: { start(): void; stop(): void; close(): Promise<void> };
    gen: ResultPromise;
    s: ReturnType<typeof sampler>;
    /** Starts counting the relay's busy cycles; the returned function gives them per packet since. */
    cyclesFrom: () => Promise<() => Promise<number>>;
    /** Stops the relay (before its memif peer goes: see runVio4wd). */
    stop: () => Promise<void>;
    slices: Slice[];
  }
  const pause = (x: Turn) => {
    x.running?.stop();
    signal(x.gen, 'SIGSTOP');
    signal(x.relay, 'SIGSTOP');
  };
  const resume = (x: Turn) => {
    signal(x.relay, 'SIGCONT');
    signal(x.gen, 'SIGCONT');
    x.running?.start();
  };
  const pktgenMode = ['--sample', ...(o.pps ? ['--pps', String(Math.round(o.pps))] : []), ...(o.latency ? ['--latency'] : [])];

  async function startVio4wd(dir: string, tag: string, c: Extract<Contestant, { kind: 'vio4wd' }>): Promise<Turn> {
    const prefix = `v4b-dp${tag}-${process.pid}`;
    prefixes.push(prefix);
    const n = c.relays ?? 1;
    const dp = spawnDataplane(dir, prefix, { ...o, relays: n, dpArgs: [...(o.dpArgs ?? []), ...(c.dpArgs ?? [])] });
    procs.push(dp);
    await waitFile(`${dir}/ctl.sock`);
    const client = new DataplaneClient(`${dir}/ctl.sock`, 60000);
    await client.connect();
    for (let i = 0; i < n; i++) await client.addRelay(benchRelay(dir, i));
    const running = c.scrapeMs ? await metricsScraper(client, dir, Array.from({ length: n }, (_, i) => i), c.scrapeMs) : undefined;
    const gen = spawnPktgen(dir, 0, tag, d, size, o, pktgenMode);
    procs.push(gen);
    prefixes.push(pktgenPrefix(tag, 0));
    return {
      relay: dp, gen, s: sampler(gen), slices: [], running,
      cyclesFrom: async () => {
        const c0 = relayTotals(await client.stats(), [0]);
        return async () => {
          const c1 = relayTotals(await client.stats(), [0]);
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
    await waitFile(`${dir}/v0.sock`);
    await waitFile(`${dir}/m0.sock`);
    const gen = spawnPktgen(dir, 0, tag, d, size, o, pktgenMode);
    procs.push(gen);
    prefixes.push(pktgenPrefix(tag, 0));
    return {
      relay: tp, gen, s: sampler(gen), slices: [],
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

  try {
    const turns: Turn[] = [];
    for (const [i, c] of contestants.entries()) {
      const dir = scratch();
      dirs.push(dir);
      const tag = String.fromCharCode(65 + i);
      const t = c.kind === 'vio4wd' ? await startVio4wd(dir, tag, c) : await startTestpmd(dir, tag);
      await t.s.window;
      pause(t);
      turns.push(t);
    }
    for (let k = 0; k < o.slices; k++) {
      for (let j = 0; j < turns.length; j++) {
        const x = turns[(j + k) % turns.length];
        if (!x) continue;
        resume(x);
        // Settle: what a stop left half done (a burst, its cycles, packets in the rings) is counted before the window.
        await sleep(o.settleMs);
        const cycles = await x.cyclesFrom();
        const cpu = cpuMeter(x.relay.pid);
        const t0 = await x.s.totals();
        cpu.start();
        await sleep(o.durationMs);
        const t1 = await x.s.totals();
        const cpuShare = cpu.share();
        const lost = Math.max(0, (t1.vm_tx - t0.vm_tx) - (t1.vf_rx - t0.vf_rx)) + Math.max(0, (t1.vf_tx - t0.vf_tx) - (t1.vm_rx - t0.vm_rx));
        const slice: Slice = { mpps: deliveredBetween(t0, t1, d), lost, cycles: await cycles(), cpuShare };
        if (t1.vm_to_vf_latency || t1.vf_to_vm_latency) slice.latency = { vmToVf: t1.vm_to_vf_latency, vfToVm: t1.vf_to_vm_latency };
        pause(x);
        x.slices.push(slice);
      }
    }
    for (const x of turns) {
      resume(x);
      await x.stop();
    }
    return turns.map((x) => x.slices);
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
