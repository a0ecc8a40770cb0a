// npm run bench:latency: one-way latency through the relay (vio4wd-pktgen
// stamps each packet with the TSC and reads it back on the other port, one
// process, one TSC), bidirectional, at shares of the relay's measured
// maximum rate, 64 B and 1518 B; vio4wd with the idle sleep off (A), the
// same again (A2: what two identical relays differ by here), vio4wd with an
// idle sleep (S), and testpmd io forwarding (B). They take turns
// (relay-bench.ts runTurns): per rate, LATENCY_INSTANCES times all four are
// started, then measured slice after slice, the others stopped meanwhile,
// so that slices taken back to back share the host's moment. Also the relay
// process's CPU share over each window: what the sleep saves. Same topology
// as npm run bench; on 2 MiB pages when 1536 are free.
//
// The host takes a CPU away from a polling thread for 10 us or more
// hundreds of times a second (the bench measures and prints how much, first):
// at the lower rates such stalls, on the relay's CPU or the generator's, are
// what a p99 is made of. The final lines take, per rate, the median over the
// slices of A's p99 over B's (over A2's; and of S's p99 minus A's), then the
// worst rate (for S, of those at which its worker slept at all).
import { freeHugepages } from '../lib/forwarder.js';
import { median } from '../lib/stats.js';
import { hostStalls, runTurns, runVio4wd, type Contestant, type Latency, type Slice } from './relay-bench.js';

const INSTANCES = Number(process.env.LATENCY_INSTANCES ?? 3);
const SLICES = Number(process.env.LATENCY_SLICES ?? 4);
const SIZES = (process.env.BENCH_SIZES ?? '64,1518').split(',').map(Number);
// Shares of the maximum rate; 0.1% is where an idle worker gets to sleep.
const RATES = (process.env.LATENCY_RATES ?? '0.001,0.01,0.1,0.5,0.9').split(',').map(Number);
const SLEEP_US = Number(process.env.BENCH_IDLE_SLEEP_US ?? 50);
/** S's relay process used less than this share of a CPU: its worker slept (the share is read in 10 ms ticks). */
const SLEPT_BELOW = 0.95;
const opts = {
  warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 500),
  durationMs: Number(process.env.BENCH_DURATION_MS ?? 500),
  settleMs: Number(process.env.BENCH_SETTLE_MS ?? 100),
  slices: SLICES,
  // Four relays (512 MB each) and their generators (256 MB).
  hugepages: process.env.BENCH_HUGEPAGES !== '0' && freeHugepages() >= 1536,
};

const VARIANTS = ['A', 'A2', 'S', 'B'] as const;
type Variant = (typeof VARIANTS)[number];
const CONTESTANTS: Record<Variant, Contestant> = {
  A: { kind: 'vio4wd' },
  A2: { kind: 'vio4wd' },
  S: { kind: 'vio4wd', dpArgs: ['--idle-sleep-us', String(SLEEP_US)] },
  B: { kind: 'testpmd' },
};
const us = (ns: number) => (ns / 1000).toFixed(2);

/** The worse of the two directions, for one percentile. */
function worst(s: Slice, key: keyof Latency): number {
  const l = s.latency;
  return Math.max(l?.vmToVf?.[key] ?? NaN, l?.vfToVm?.[key] ?? NaN);
}

async function main(): Promise<void> {
  console.log(`# one-way latency through the relay, bidirectional; A and A2: vio4wd idle sleep off, S: vio4wd --idle-sleep-us ${SLEEP_US}, ` +
    `B: dpdk-testpmd io; per rate ${INSTANCES} instances x ${SLICES} slices, taking turns; window ${opts.durationMs} ms ` +
    `(settle ${opts.settleMs} ms, warm-up ${opts.warmupMs} ms); relay on CPU 1, traffic on CPU 0; ${opts.hugepages ? '2 MiB' : '4 KiB'} pages; ` +
    'latencies in us, the worse direction; medians over the slices');
  for (const line of await hostStalls(5000, opts.durationMs)) console.log(line);
  console.log('#  size   rate   pps/side  var   Mpps    lost    p50     p99   p99.9      max   relay CPU');
  let worstRatio = 0;
  let worstNull = 0;
  let worstSleep = -Infinity;
  for (const size of SIZES) {
    // The relay's maximum rate (vio4wd, sleep off, unpaced, both directions).
    const max: number[] = [];
    for (let i = 0; i < 3; i++) max.push((await runVio4wd('bidir', size, { warmupMs: opts.warmupMs, durationMs: 1500, hugepages: opts.hugepages })).mpps);
    const maxMpps = median(max);
    console.log(`# ${size} B: maximum ${maxMpps.toFixed(3)} Mpps both directions (runs: ${max.map((x) => x.toFixed(3)).join(' ')})`);
    for (const rate of RATES) {
      const pps = (rate * maxMpps * 1e6) / 2;
      const got: Record<Variant, Slice[]> = { A: [], A2: [], S: [], B: [] };
      for (let i = 0; i < INSTANCES; i++) {
        const r = await runTurns(VARIANTS.map((v) => CONTESTANTS[v]), 'bidir', size, { ...opts, pps, latency: true });
        VARIANTS.forEach((v, j) => got[v].push(...(r.slices[j] ?? [])));
      }
      for (const v of VARIANTS) {
        const s = got[v];
        const m = (k: keyof Latency) => median(s.map((x) => worst(x, k)));
        console.log(`${String(size).padStart(6)} ${(rate * 100).toFixed(1).padStart(5)}% ${Math.round(pps).toString().padStart(9)}  ${v.padStart(2)}  ` +
          `${median(s.map((x) => x.mpps)).toFixed(3).padStart(6)} ${String(median(s.map((x) => x.lost))).padStart(7)} ` +
          `${us(m('p50_ns')).padStart(6)} ${us(m('p99_ns')).padStart(7)} ${us(m('p999_ns')).padStart(7)} ${us(m('max_ns')).padStart(8)}   ` +
          `${(median(s.map((x) => x.cpuShare)) * 100).toFixed(0).padStart(4)}%`);
      }
      // Slices k of every variant were taken back to back.
      const p99Ratio = (x: Slice[], y: Slice[]) => median(x.map((a, k) => worst(a, 'p99_ns') / worst(y[k] ?? a, 'p99_ns')));
      const ratio = p99Ratio(got.A, got.B);
      const nullRatio = p99Ratio(got.A, got.A2);
      const added = median(got.S.map((x, k) => (worst(x, 'p99_ns') - worst(got.A[k] ?? x, 'p99_ns')) / 1000));
      // Where S's worker never slept it ran A's code: what it "adds" there is noise.
      const slept = median(got.S.map((x) => x.cpuShare)) < SLEPT_BELOW;
      console.log(`# ${size} B ${(rate * 100).toFixed(1)}%: p99 A/B ${ratio.toFixed(3)}, A/A2 ${nullRatio.toFixed(3)}, S - A ${added.toFixed(2)} us ` +
        `(medians of back-to-back slices)${slept ? '' : '; S never slept: not counted'}`);
      worstRatio = Math.max(worstRatio, ratio);
      worstNull = Math.max(worstNull, nullRatio);
      if (slept) worstSleep = Math.max(worstSleep, added);
    }
  }
  console.log(`# worst over the rates of the medians over back-to-back slices: p99 A/B; p99 A/A2 (two identical relays: the noise floor); ` +
    `p99 S - A (what the ${SLEEP_US} us idle sleep adds, at the rates where it slept)`);
  console.log(`latency_p99_ratio_vs_testpmd=${worstRatio.toFixed(3)}`);
  console.log(`latency_p99_ratio_null=${worstNull.toFixed(3)}`);
  console.log(`latency_p99_sleep_us=${worstSleep.toFixed(2)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
