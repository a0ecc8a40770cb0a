// npm run bench:latency: one-way latency through the relay (vio4wd-pktgen
// stamps each packet with the TSC and reads it back on the other port, one
// process, one TSC), bidirectional, at shares of the relay's measured
// maximum rate, 64 B and 1518 B; vio4wd with the idle sleep off, vio4wd
// with an idle sleep, and testpmd io forwarding, interleaved (A S B) in the
// same run. Also the relay process's CPU share over each window: what the
// sleep saves. Same topology as npm run bench (relay-bench.ts).
//
// On this shared 2-CPU host a thread is now and then set aside for a
// millisecond or more; from 10% of the maximum rate on, such hiccups decide
// a 2-second window's p99 (hundreds of us, for either relay, at random).
// Noise only ever adds latency: the final lines compare each variant's best
// (lowest) p99 over its runs; the table shows medians and that best.
import { median } from '../lib/stats.js';
import { runTestpmd, runVio4wd, type BenchOptions, type Latency, type Sample } from './relay-bench.js';

const REPS = Number(process.env.BENCH_PAIRS ?? 5);
const SIZES = (process.env.BENCH_SIZES ?? '64,1518').split(',').map(Number);
// Shares of the maximum rate; 0.1% is where an idle worker gets to sleep.
const RATES = (process.env.LATENCY_RATES ?? '0.001,0.01,0.1,0.5,0.9').split(',').map(Number);
const SLEEP_US = Number(process.env.BENCH_IDLE_SLEEP_US ?? 50);
const opts: BenchOptions = { warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 500), durationMs: Number(process.env.BENCH_DURATION_MS ?? 2000) };

type Variant = 'A' | 'S' | 'B';
const us = (ns: number) => (ns / 1000).toFixed(2);

/** The worse of the two directions, for one percentile. */
function worst(s: Sample, key: keyof Latency): number {
  const l = s.latency;
  return Math.max(l?.vmToVf?.[key] ?? NaN, l?.vfToVm?.[key] ?? NaN);
}

async function run(v: Variant, size: number, o: BenchOptions): Promise<Sample> {
  if (v === 'B') return runTestpmd('bidir', size, o);
  return runVio4wd('bidir', size, { ...o, dpArgs: v === 'S' ? ['--idle-sleep-us', String(SLEEP_US)] : [] });
}

async function main(): Promise<void> {
  console.log(`# one-way latency through the relay, bidirectional; A: vio4wd idle sleep off, S: vio4wd --idle-sleep-us ${SLEEP_US}, ` +
    `B: dpdk-testpmd io; ${REPS} runs of each (A S B interleaved), medians and the best p99; window ${opts.durationMs} ms after ${opts.warmupMs} ms; ` +
    'relay on CPU 1, traffic on CPU 0; latencies in us, the worse direction');
  console.log('#  size   rate   pps/side  var   Mpps    lost    p50     p99   p99.9      max   relay CPU   best p99');
  let worstRatio = 0;
  let worstSleep = -Infinity;
  for (const size of SIZES) {
    // The relay's maximum rate (vio4wd, sleep off, unpaced, both directions).
    const max: number[] = [];
    for (let i = 0; i < REPS; i++) max.push((await runVio4wd('bidir', size, opts)).mpps);
    const maxMpps = median(max);
    console.log(`# ${size} B: maximum ${maxMpps.toFixed(3)} Mpps both directions (runs: ${max.map((x) => x.toFixed(3)).join(' ')})`);
    for (const rate of RATES) {
      const pps = (rate * maxMpps * 1e6) / 2;
      const o = { ...opts, pps, latency: true };
      const got: Record<Variant, Sample[]> = { A: [], S: [], B: [] };
      for (let i = 0; i < REPS; i++) for (const v of ['A', 'S', 'B'] as const) got[v].push(await run(v, size, o));
      const p99: Record<Variant, number> = { A: 0, S: 0, B: 0 };
      for (const v of ['A', 'S', 'B'] as const) {
        const s = got[v];
        const m = (k: keyof Latency) => median(s.map((x) => worst(x, k)));
        p99[v] = Math.min(...s.map((x) => worst(x, 'p99_ns')));
        console.log(`${String(size).padStart(6)} ${(rate * 100).toFixed(1).padStart(5)}% ${Math.round(pps).toString().padStart(9)}   ${v}  ` +
          `${median(s.map((x) => x.mpps)).toFixed(3).padStart(6)} ${String(median(s.map((x) => x.lost))).padStart(7)} ` +
          `${us(m('p50_ns')).padStart(6)} ${us(m('p99_ns')).padStart(7)} ${us(m('p999_ns')).padStart(7)} ${us(m('max_ns')).padStart(8)}   ` +
          `${(median(s.map((x) => x.cpuShare)) * 100).toFixed(0).padStart(4)}%   ${us(p99[v]).padStart(8)}`);
      }
      worstRatio = Math.max(worstRatio, p99.A / p99.B);
      worstSleep = Math.max(worstSleep, (p99.S - p99.A) / 1000);
    }
  }
  console.log(`# worst over the rates, best p99s: A/B; the most p99 the ${SLEEP_US} us idle sleep adds (S - A)`);
  console.log(`latency_p99_ratio_vs_testpmd=${worstRatio.toFixed(3)}`);
  console.log(`latency_p99_sleep_us=${worstSleep.toFixed(2)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
