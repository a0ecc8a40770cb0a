// npm run bench: vio4wd-dataplane vs dpdk-testpmd, A B A B.
// The verdict is the ratio of delivered Mpps; the ratio of busy cycles per
// packet (testpmd's over ours) is printed beside it. On a shared 2-CPU host
// a thread is now and then set aside (steal time, a neighbour on the
// traffic's CPU); the verdict compares each side's best window over its
// runs (the least disturbed), with the median of the pairs' ratios beside
// it. Neither holds still run to run here (docs/performance.md: three runs
// of one tree, best windows 0.952, 1.001, 0.917; medians of pairs 0.927,
// 0.981, 0.884).
import { median } from '../lib/stats.js';
import { runTestpmd, runVio4wd, type Dir, type Sample } from './relay-bench.js';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 5);
const opts = { warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 700), durationMs: Number(process.env.BENCH_DURATION_MS ?? 1500) };
// BENCH_SIZES=64,1518 and BENCH_DIRS=vm2vf,vf2vm,bidir pick cells (default: all six).
const SIZES = (process.env.BENCH_SIZES ?? '64,1518').split(',').map(Number);
const DIRS = (process.env.BENCH_DIRS ?? 'vm2vf,vf2vm,bidir').split(',') as Dir[];

const f = (x: number, d = 2) => x.toFixed(d);

async function main(): Promise<void> {
  console.log(`# vio4wd-dataplane (A) vs dpdk-testpmd io (B); ${PAIRS} A/B pairs per cell; ` +
    `warm-up ${opts.warmupMs} ms, window ${opts.durationMs} ms; relay worker on CPU 1, traffic on CPU 0`);
  console.log('# size dir    best window: A_Mpps B_Mpps ratio | cycles/pkt (least): A B ratio(B/A) | median of pairs: Mpps cycles | pairs (Mpps)');
  const ratios: number[] = [];
  const cycleRatios: number[] = [];
  for (const size of process.env.BENCH_IDLE_ONLY ? [] : SIZES) {
    for (const dir of DIRS) {
      const a: Sample[] = [];
      const b: Sample[] = [];
      for (let i = 0; i < PAIRS; i++) {
        a.push(await runVio4wd(dir, size, opts));
        b.push(await runTestpmd(dir, size, opts));
      }
      const pairs = a.map((x, i) => x.mpps / (b[i]?.mpps ?? NaN));
      const best = (s: Sample[]) => ({ mpps: Math.max(...s.map((x) => x.mpps)), cyc: Math.min(...s.map((x) => x.cyclesPerPacket)) });
      const ba = best(a);
      const bb = best(b);
      const r = ba.mpps / bb.mpps;
      const c = bb.cyc / ba.cyc;
      ratios.push(r);
      cycleRatios.push(c);
      console.log(`${String(size).padStart(6)} ${dir.padEnd(6)} ${f(ba.mpps).padStart(6)} ${f(bb.mpps).padStart(6)} ${f(r, 3)} | ` +
        `${f(ba.cyc, 0).padStart(5)} ${f(bb.cyc, 0).padStart(5)} ${f(c, 3)} | ` +
        `${f(median(pairs), 3)} ${f(median(a.map((x, i) => (b[i]?.cyclesPerPacket ?? NaN) / x.cyclesPerPacket)), 3)} | ` +
        `${pairs.map((x) => f(x, 2)).join(' ')}`);
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
  for (let i = 0; i < Math.max(3, Math.ceil(PAIRS / 2)); i++) {
    one.push((await runVio4wd('vf2vm', 64, { ...opts, relays: 4, busy: 4 })).mpps);
    many.push((await runVio4wd('vf2vm', 64, { ...opts, relays: MANY, busy: 4 })).mpps);
  }
  const idle = median(many.map((m, i) => m / (one[i] ?? NaN)));
  console.log(`# 4 busy relays, 64 B VF->VM: with 4 configured ${f(median(one))} Mpps, with ${MANY} configured ${f(median(many))} Mpps`);
  console.log(`idle_relay_ratio=${f(idle, 3)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
