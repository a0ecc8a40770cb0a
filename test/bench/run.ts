// npm run bench: vio4wd-dataplane vs dpdk-testpmd, A B A B, medians of ratios.
// The verdict is the ratio of delivered Mpps; the ratio of busy cycles per
// packet (testpmd's over ours) is printed beside it. Neither is steady run
// to run on a shared 2-CPU host yet (three runs of one tree: Mpps 0.891,
// 0.954, 0.985; cycles 0.947, 0.930, 1.018).
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
  console.log('# size dir     A_Mpps  B_Mpps  A_cyc/pkt B_cyc/pkt  ratio(A/B Mpps, median of pairs)  cycles ratio(B/A cyc/pkt)');
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
      const r = median(pairs);
      const c = median(a.map((x, i) => (b[i]?.cyclesPerPacket ?? NaN) / x.cyclesPerPacket));
      ratios.push(r);
      cycleRatios.push(c);
      console.log(`${String(size).padStart(6)} ${dir.padEnd(6)} ${f(median(a.map((x) => x.mpps))).padStart(7)} ${f(median(b.map((x) => x.mpps))).padStart(7)} ` +
        `${f(median(a.map((x) => x.cyclesPerPacket)), 0).padStart(9)} ${f(median(b.map((x) => x.cyclesPerPacket)), 0).padStart(9)}  ${f(r, 3)}` +
        `   pairs: ${pairs.map((x) => f(x, 2)).join(' ')}   ${f(c, 3)}`);
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
