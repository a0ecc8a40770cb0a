// npm run bench: vio4wd-dataplane vs dpdk-testpmd io forwarding, same
// topology, same run. Per cell (size x direction), BENCH_INSTANCES times: a
// vio4wd relay (A) and a testpmd (B), each with its own traffic generator,
// are started side by side and take turns (the other pair stopped), slice
// after slice (BENCH_SLICES; order AB, BA, ...): each slice settles, then
// counts delivered packets and busy cycles over a window. Slices of A and
// B measured back to back share the host's mood of the moment, and fresh
// processes for every instance average over how each happened to be laid
// out in memory. The verdict: for the worst cell, the median over the slice
// pairs of A's Mpps over B's; the same for testpmd's busy cycles per packet
// over ours. Then idle relays' cost (idle_relay_ratio), and the metrics
// endpoint's (metrics_cost_ratio; BENCH_METRICS_ONLY=1: that alone). On 2 MiB pages (when BENCH_HUGEPAGES is not 0 and 768 are free), as
// a production host runs.
import { execa } from 'execa';
import { freeHugepages } from '../lib/forwarder.js';
import { median } from '../lib/stats.js';
import { hostStalls, runTurns, runVio4wd, type Dir, type Slice } from './relay-bench.js';

const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 4);
const SLICES = Number(process.env.BENCH_SLICES ?? 10);
const opts = {
  warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 700),
  durationMs: Number(process.env.BENCH_DURATION_MS ?? 300),
  settleMs: Number(process.env.BENCH_SETTLE_MS ?? 100),
  slices: SLICES,
  hugepages: process.env.BENCH_HUGEPAGES !== '0' && freeHugepages() >= 768,
};
// BENCH_SIZES=64,1518 and BENCH_DIRS=vm2vf,vf2vm,bidir pick cells (default: all six).
const SIZES = (process.env.BENCH_SIZES ?? '64,1518').split(',').map(Number);
const DIRS = (process.env.BENCH_DIRS ?? 'vm2vf,vf2vm,bidir').split(',') as Dir[];

const f = (x: number, d = 2) => x.toFixed(d);

async function main(): Promise<void> {
  console.log(`# vio4wd-dataplane (A) vs dpdk-testpmd io (B); per cell ${INSTANCES} instances x ${SLICES} slices, taking turns; ` +
    `warm-up ${opts.warmupMs} ms, settle ${opts.settleMs} ms, window ${opts.durationMs} ms; relay on CPU 1, traffic on CPU 0; ` +
    `${opts.hugepages ? '2 MiB' : '4 KiB'} pages`);
  for (const line of await hostStalls(5000, opts.durationMs)) console.log(line);
  console.log('# size dir    median: A_Mpps B_Mpps | Mpps ratio (median of pairs) | cycles/pkt A B | cycles ratio B/A (median of pairs) | per instance: Mpps ratios');
  const ratios: number[] = [];
  const cycleRatios: number[] = [];
  const metricsOnly = process.env.BENCH_METRICS_ONLY !== undefined;
  for (const size of process.env.BENCH_IDLE_ONLY || metricsOnly ? [] : SIZES) {
    for (const dir of DIRS) {
      // Slice k of a and of b were measured back to back.
      const a: Slice[] = [];
      const b: Slice[] = [];
      const perInstance: number[] = [];
      for (let i = 0; i < INSTANCES; i++) {
        const [va = [], tp = []] = await runTurns([{ kind: 'vio4wd' }, { kind: 'testpmd' }], dir, size, opts);
        a.push(...va);
        b.push(...tp);
        perInstance.push(median(va.map((x, k) => x.mpps / (tp[k]?.mpps ?? NaN))));
      }
      const r = median(a.map((x, k) => x.mpps / (b[k]?.mpps ?? NaN)));
      const c = median(a.map((x, k) => (b[k]?.cycles ?? NaN) / x.cycles));
      ratios.push(r);
      cycleRatios.push(c);
      const m = (s: Slice[], k: 'mpps' | 'cycles') => median(s.map((x) => x[k]));
      console.log(`${String(size).padStart(6)} ${dir.padEnd(6)} ${f(m(a, 'mpps')).padStart(6)} ${f(m(b, 'mpps')).padStart(6)} | ${f(r, 3)} | ` +
        `${f(m(a, 'cycles'), 0).padStart(5)} ${f(m(b, 'cycles'), 0).padStart(5)} | ${f(c, 3)} | ${perInstance.map((x) => f(x, 3)).join(' ')}`);
    }
  }
  if (ratios.length) {
    console.log(`min_cycles_ratio_vs_testpmd=${f(Math.min(...cycleRatios), 3)}`);
    console.log(`min_ratio_vs_testpmd=${f(Math.min(...ratios), 3)}`);
  }

  // Idle relays must not cost the busy ones: traffic on 4 relays, with 4 and
  // with MANY (default: all 64) configured.
  const MANY = Number(process.env.BENCH_MANY_RELAYS ?? 64);
  const one: number[] = [];
  const many: number[] = [];
  for (let i = 0; i < (metricsOnly ? 0 : 3); i++) {
    // Whole runs on 4 KiB pages (64 relays' buffers need more than the reserved 2 MiB pages).
    const o = { warmupMs: opts.warmupMs, durationMs: 1500, relays: 4, busy: 4 };
    one.push((await runVio4wd('vf2vm', 64, o)).mpps);
    many.push((await runVio4wd('vf2vm', 64, { ...o, relays: MANY })).mpps);
  }
  if (!metricsOnly) {
    const idle = median(many.map((m, i) => m / (one[i] ?? NaN)));
    console.log(`# 4 busy relays, 64 B VF->VM: with 4 configured ${f(median(one))} Mpps, with ${MANY} configured ${f(median(many))} Mpps`);
    console.log(`idle_relay_ratio=${f(idle, 3)}`);
  }

  // Metrics: 64 relays configured (one busy), scraped every second through
  // the supervisor's metrics code over HTTP (A), against the same not
  // scraped (B), taking turns; windows long enough to hold scrapes.
  // The scrapes run in this process, as the supervisor's do in its: off the
  // worker CPU (CPU 0 here, where the supervisor keeps itself in production:
  // see packages/forwarder/src/affinity.ts). Processes started from now on
  // inherit it; DPDK places their lcores itself.
  await execa('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
  const mSlices = Number(process.env.BENCH_METRICS_SLICES ?? 10);
  const mo = { ...opts, hugepages: false, durationMs: Number(process.env.BENCH_METRICS_WINDOW_MS ?? 2000), slices: mSlices };
  const scraped: number[] = [];
  const plain: number[] = [];
  const pairs: number[] = [];
  for (let i = 0; i < Number(process.env.BENCH_METRICS_INSTANCES ?? 2); i++) {
    const [sc = [], pl = []] = await runTurns([{ kind: 'vio4wd', relays: MANY, scrapeMs: 1000 }, { kind: 'vio4wd', relays: MANY }], 'vf2vm', 64, mo);
    scraped.push(...sc.map((x) => x.mpps));
    plain.push(...pl.map((x) => x.mpps));
    pairs.push(...sc.map((x, k) => x.mpps / (pl[k]?.mpps ?? NaN)));
  }
  console.log(`# ${MANY} relays (1 busy), 64 B VF->VM, ${mo.durationMs} ms windows, the scraper on CPU 0: scraped every 1 s ${f(median(scraped))} Mpps, not scraped ${f(median(plain))} Mpps; ` +
    `pair ratios ${pairs.map((x) => f(x, 3)).join(' ')}`);
  console.log(`metrics_cost_ratio=${f(median(pairs), 3)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
