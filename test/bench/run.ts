// npm run bench: vio4wd-dataplane vs dpdk-testpmd io forwarding vs OVS-DPDK,
// same topology, same features, same run. Per cell (size x direction),
// BENCH_INSTANCES times: a vio4wd relay (A), a testpmd (B) and an OVS (C),
// each with its own traffic generator, are started side by side and take
// turns (the others stopped), slice after slice (BENCH_SLICES; the order
// rotates): each slice settles, then counts delivered packets and busy
// cycles over a window. Slices measured back to back share the host's mood
// of the moment, and fresh processes for every instance average over how
// each happened to be laid out in memory. Every contestant runs the shipped
// features (features.ts; BENCH_FEATURES changes them for all), and the
// virtio features each VM connection negotiated are read back: contestants
// that differ are not compared. The verdict: for the worst cell, the median
// over the slice pairs of A's Mpps over B's (and C's); the same for the
// busy cycles per packet (theirs over ours). Then what idle relays cost
// busy ones on the same worker (idle_relay_ratio: their VMs connected, VFs
// up, no traffic), and what the metrics endpoint costs the worker
// (metrics_cost_ratio), both taking turns in the same way. On 2 MiB pages
// when BENCH_HUGEPAGES is not 0 and enough are free (OVS needs them);
// BENCH_SECTIONS=cells,idle,metrics picks sections (BENCH_METRICS_ONLY=1,
// BENCH_IDLE_ONLY=1: one alone).
import { execa } from 'execa';
import { freeHugepages } from '../lib/forwarder.js';
import { median } from '../lib/stats.js';
import { decodeFeatures, describeFeatures } from './features.js';
import { ovsRoot } from './ovs.js';
import { FEATURES, OVS_INSTALL, hostStalls, runTurns, type Contestant, type Dir, type Slice } from './relay-bench.js';

const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 3);
const SLICES = Number(process.env.BENCH_SLICES ?? 8);
// Each contestant: its relay (512 MB) and its generator (256 MB) on 2 MiB pages.
const PAGES_PER_CONTESTANT = 384;
const wantHuge = process.env.BENCH_HUGEPAGES !== '0';
const free = freeHugepages();
const ovsSkip = process.env.BENCH_OVS === '0' ? 'BENCH_OVS=0'
  : !ovsRoot() ? `not unpacked; to include it: ${OVS_INSTALL}`
    : !wantHuge ? 'BENCH_HUGEPAGES=0 (OVS-DPDK runs on 2 MiB pages only)'
      : free < 3 * PAGES_PER_CONTESTANT ? `${free} free 2 MiB pages, ${3 * PAGES_PER_CONTESTANT} needed for three contestants (OVS-DPDK runs on 2 MiB pages only)`
        : undefined;
const contestants: Contestant[] = [{ kind: 'vio4wd' }, { kind: 'testpmd' }, ...(ovsSkip ? [] : [{ kind: 'ovs' } as const])];
const opts = {
  warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 700),
  durationMs: Number(process.env.BENCH_DURATION_MS ?? 300),
  settleMs: Number(process.env.BENCH_SETTLE_MS ?? 100),
  slices: SLICES,
  hugepages: wantHuge && free >= contestants.length * PAGES_PER_CONTESTANT,
};
// BENCH_SIZES=64,1518 and BENCH_DIRS=vm2vf,vf2vm,bidir pick cells (default: all six).
const SIZES = (process.env.BENCH_SIZES ?? '64,1518').split(',').map(Number);
const DIRS = (process.env.BENCH_DIRS ?? 'vm2vf,vf2vm,bidir').split(',') as Dir[];

const f = (x: number, d = 2) => x.toFixed(d);
/** Median over slice pairs taken back to back of fn(ours, theirs). */
const pairs = (a: Slice[], b: Slice[], fn: (x: Slice, y: Slice) => number) => median(a.map((x, k) => (b[k] ? fn(x, b[k]) : NaN)));
const mpps = (x: Slice, y: Slice) => x.mpps / y.mpps;
/** Their cycles per packet over ours: above 1, ours costs less. */
const cycles = (x: Slice, y: Slice) => y.cycles / x.cycles;
const med = (s: Slice[], k: 'mpps' | 'cycles') => median(s.map((x) => x[k]));

async function cells(): Promise<void> {
  const names = contestants.map((c) => (c.kind === 'vio4wd' ? 'A vio4wd' : c.kind === 'testpmd' ? 'B testpmd io' : 'C OVS-DPDK'));
  console.log(`# contestants: ${names.join(', ')}${ovsSkip ? ` (OVS-DPDK skipped: ${ovsSkip})` : ''}`);
  console.log(`# per cell ${INSTANCES} instances x ${SLICES} slices, taking turns; warm-up ${opts.warmupMs} ms, settle ${opts.settleMs} ms, ` +
    `window ${opts.durationMs} ms; relay on CPU 1, traffic on CPU 0; ${opts.hugepages ? '2 MiB' : '4 KiB'} pages; vhost-user client mode (the VM listens)`);
  const hasOvs = contestants.length > 2;
  console.log(`# size dir    median Mpps: A B${hasOvs ? ' C' : ''} | A/B Mpps | cycles/pkt A B${hasOvs ? ' C' : ''} | B/A cycles${hasOvs ? ' | A/C Mpps | C/A cycles' : ''} ` +
    '(ratios: medians of back-to-back slice pairs) | per instance A/B Mpps');
  const worst = { tp: Infinity, tpCycles: Infinity, ovs64: Infinity, ovs1518: Infinity, ovsCycles: Infinity };
  let features: number | undefined;
  let ovsNote = '';
  for (const size of SIZES) {
    for (const dir of DIRS) {
      const got: Slice[][] = contestants.map(() => []);
      const perInstance: number[] = [];
      for (let i = 0; i < INSTANCES; i++) {
        const r = await runTurns(contestants, dir, size, opts);
        r.slices.forEach((s, k) => got[k]?.push(...s));
        perInstance.push(pairs(r.slices[0] ?? [], r.slices[1] ?? [], mpps));
        if (features !== undefined && r.features[0] !== features) throw new Error(`negotiated features changed between cells: ${decodeFeatures(features)} then ${decodeFeatures(r.features[0] ?? 0)}`);
        if (features === undefined) {
          features = r.features[0] ?? 0;
          console.log(`# negotiated by every contestant's VM connection: ${decodeFeatures(features)}`);
        }
        ovsNote ||= r.notes[2] ?? '';
      }
      const [a = [], b = [], c = []] = got;
      const ab = pairs(a, b, mpps);
      const abc = pairs(a, b, cycles);
      worst.tp = Math.min(worst.tp, ab);
      worst.tpCycles = Math.min(worst.tpCycles, abc);
      let ovsCols = '';
      if (hasOvs) {
        const ac = pairs(a, c, mpps);
        const acc = pairs(a, c, cycles);
        if (size <= 64) worst.ovs64 = Math.min(worst.ovs64, ac);
        else worst.ovs1518 = Math.min(worst.ovs1518, ac);
        worst.ovsCycles = Math.min(worst.ovsCycles, acc);
        ovsCols = ` | ${f(ac, 3)} | ${f(acc, 3)}`;
      }
      const col = (k: 'mpps' | 'cycles', d: number, w: number) => got.map((s) => f(med(s, k), d).padStart(w)).join(' ');
      console.log(`${String(size).padStart(6)} ${dir.padEnd(6)} ${col('mpps', 2, 6)} | ${f(ab, 3)} | ${col('cycles', 0, 5)} | ${f(abc, 3)}${ovsCols} | ` +
        `${perInstance.map((x) => f(x, 3)).join(' ')}`);
    }
  }
  if (ovsNote) {
    console.log('# OVS-DPDK as configured for these cells, and its PMD at the end of the last instance of the first cell:');
    for (const l of ovsNote.split('\n')) console.log(`#   ${l}`);
  }
  console.log(`min_cycles_ratio_vs_testpmd=${f(worst.tpCycles, 3)}`);
  console.log(`min_ratio_vs_testpmd=${f(worst.tp, 3)}`);
  if (hasOvs) {
    console.log(`min_cycles_ratio_vs_ovs=${f(worst.ovsCycles, 3)}`);
    if (Number.isFinite(worst.ovs64)) console.log(`min_ratio_vs_ovs_64=${f(worst.ovs64, 3)}`);
    if (Number.isFinite(worst.ovs1518)) console.log(`min_ratio_vs_ovs_1518=${f(worst.ovs1518, 3)}`);
    console.log(`min_ratio_vs_ovs=${f(Math.min(worst.ovs64, worst.ovs1518), 3)}`);
  } else {
    console.log(`# min_ratio_vs_ovs: not measured (OVS-DPDK skipped: ${ovsSkip ?? ''})`);
  }
}

/**
 * Idle relays must not cost the busy ones: 4 busy relays (64 B VF->VM, a
 * generator each) alone on the worker (A) vs the same 4 beside MANY - 4 idle
 * relays whose VMs are connected with queues enabled and VFs up (B), taking
 * turns. 4 KiB pages: 64 relays' buffers need more than the bench reserves.
 */
async function idle(many: number): Promise<void> {
  const o = { ...opts, hugepages: false, slices: Number(process.env.BENCH_IDLE_SLICES ?? 10), durationMs: 500 };
  const a: Slice[] = [];
  const b: Slice[] = [];
  for (let i = 0; i < Number(process.env.BENCH_IDLE_INSTANCES ?? 2); i++) {
    const r = await runTurns([{ kind: 'vio4wd', relays: 4, busy: 4 }, { kind: 'vio4wd', relays: many, busy: 4 }], 'vf2vm', 64, o);
    a.push(...(r.slices[0] ?? []));
    b.push(...(r.slices[1] ?? []));
  }
  console.log(`# 4 busy relays on one worker, 64 B VF->VM, ${o.durationMs} ms windows, ${a.length} pairs: alone ${f(med(a, 'mpps'))} Mpps ${f(med(a, 'cycles'), 0)} cycles/pkt; ` +
    `beside ${many - 4} idle relays (VMs connected, VFs up) ${f(med(b, 'mpps'))} Mpps ${f(med(b, 'cycles'), 0)} cycles/pkt`);
  // With the idle ones over alone: below 1, the idle relays cost.
  console.log(`idle_relay_cycles_ratio=${f(pairs(b, a, cycles), 3)}`);
  console.log(`idle_relay_ratio=${f(pairs(b, a, mpps), 3)}`);
}

/**
 * Metrics: 64 relays with their VMs connected (one busy, 64 B VF->VM),
 * scraped every second through the supervisor's metrics code over HTTP (A)
 * against the same not scraped (B), taking turns; windows long enough to
 * hold scrapes. The scrapes run in this process, as the supervisor's do in
 * its: off the worker CPU (CPU 0 here, where the supervisor keeps itself in
 * production: packages/forwarder/src/affinity.ts). The figure: the busy
 * relay's cycles per packet on the worker.
 */
async function metricsCost(many: number): Promise<void> {
  await execa('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
  const o = { ...opts, hugepages: false, durationMs: Number(process.env.BENCH_METRICS_WINDOW_MS ?? 2000), slices: Number(process.env.BENCH_METRICS_SLICES ?? 8) };
  const a: Slice[] = [];
  const b: Slice[] = [];
  let scrapes = 0;
  let bytes = 0;
  for (let i = 0; i < Number(process.env.BENCH_METRICS_INSTANCES ?? 2); i++) {
    const r = await runTurns([{ kind: 'vio4wd', relays: many, scrapeMs: 1000 }, { kind: 'vio4wd', relays: many }], 'vf2vm', 64, o);
    a.push(...(r.slices[0] ?? []));
    b.push(...(r.slices[1] ?? []));
    scrapes += r.scrapes[0]?.ok ?? 0;
    bytes += r.scrapes[0]?.bytes ?? 0;
  }
  console.log(`# ${many} relays with VMs connected (1 busy), 64 B VF->VM, ${o.durationMs} ms windows, the scraper on CPU 0: ` +
    `${scrapes} scrapes, all answered (${f(bytes / Math.max(1, scrapes) / 1024, 0)} KiB each); scraped every 1 s ${f(med(a, 'mpps'))} Mpps ` +
    `${f(med(a, 'cycles'), 1)} cycles/pkt, not scraped ${f(med(b, 'mpps'))} Mpps ${f(med(b, 'cycles'), 1)} cycles/pkt`);
  console.log(`metrics_cost_mpps_ratio=${f(pairs(a, b, mpps), 3)}`);
  // Not scraped over scraped, in cycles per packet: below 1, scraping costs the worker.
  console.log(`metrics_cost_ratio=${f(pairs(a, b, cycles), 3)}`);
}

async function main(): Promise<void> {
  console.log(`# features of every contestant: ${describeFeatures(FEATURES)}${process.env.BENCH_FEATURES ? ` (BENCH_FEATURES=${process.env.BENCH_FEATURES})` : ' (shipped)'}`);
  for (const line of await hostStalls(5000, opts.durationMs)) console.log(line);
  const many = Number(process.env.BENCH_MANY_RELAYS ?? 64);
  // BENCH_SECTIONS=cells,idle,metrics (default: all); BENCH_METRICS_ONLY=1, BENCH_IDLE_ONLY=1: one alone.
  const sections = (process.env.BENCH_METRICS_ONLY ? 'metrics' : process.env.BENCH_IDLE_ONLY ? 'idle' : process.env.BENCH_SECTIONS ?? 'cells,idle,metrics').split(',');
  const unknown = sections.filter((x) => !['cells', 'idle', 'metrics'].includes(x));
  if (unknown.length) throw new Error(`BENCH_SECTIONS: unknown ${unknown.join(', ')} (cells, idle, metrics)`);
  if (sections.includes('cells')) await cells();
  if (sections.includes('idle')) await idle(many);
  if (sections.includes('metrics')) await metricsCost(many);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
