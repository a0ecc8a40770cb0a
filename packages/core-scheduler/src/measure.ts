// From two StatsResponses (cumulative TSC cycles) to one interval's
// Snapshot for plan(): each worker's busy share, each direction's cost.
import { busyShare, type CycleCounters, type StatsResponse } from '@vio4wd/common';
import type { Direction, Snapshot, Unit, Worker } from './plan.js';

interface DirSample {
  cpu: number;
  busy: number;
}

export interface Sample {
  /** When it was taken (ms, monotonic). */
  atMs: number;
  tscHz: number;
  workers: Map<number, { busy: number; idle: number; numa: number }>;
  relays: Map<number, { numa: number; dirs: Record<Direction, DirSample> }>;
}

/** Thrown when a forwarder does not report what the scheduler needs. */
export class UnsupportedForwarder extends Error {}

export function sampleOf(rep: StatsResponse, atMs: number): Sample {
  if (rep.tsc_hz === undefined || rep.worker.length === 0)
    throw new UnsupportedForwarder('the stats reply has no worker load (StatsResponse fields tsc_hz and worker): this forwarder cannot be balanced on measured load');
  const workers = new Map(rep.worker.map((w) => [w.cpu, { busy: w.busy_cycles, idle: w.idle_cycles, numa: w.numa_node ?? -1 }]));
  const relays: Sample['relays'] = new Map();
  for (const r of rep.relay) {
    const vf2vm = r.cpu?.vf_to_vm ?? -1;
    const vm2vf = r.cpu?.vm_to_vf ?? -1;
    // A relay that is not plugged has no worker: nothing to balance.
    if (!workers.has(vf2vm) || !workers.has(vm2vf)) continue;
    relays.set(r.id, {
      numa: r.socket_id,
      dirs: {
        vf_to_vm: { cpu: vf2vm, busy: r.vf_to_vm.busy_cycles ?? 0 },
        vm_to_vf: { cpu: vm2vf, busy: r.vm_to_vf.busy_cycles ?? 0 },
      },
    });
  }
  return { atMs, tscHz: rep.tsc_hz, workers, relays };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * The interval between two samples, or why it cannot be used: a forwarder
 * that restarted in between (counters went back, workers changed) gives no
 * measurement, only a new starting point.
 */
export function measure(prev: Sample, cur: Sample, interval: number, pinned: ReadonlySet<number>): Snapshot | { skip: string } {
  const sameWorkers = prev.workers.size === cur.workers.size && [...cur.workers.keys()].every((c) => prev.workers.has(c));
  if (!sameWorkers) return { skip: 'the worker CPUs changed (forwarder restarted)' };
  const spans: number[] = [];
  const workers: Worker[] = [];
  for (const [cpu, w] of cur.workers) {
    const share = busyShare(prev.workers.get(cpu) as CycleCounters, w);
    if (!share) return { skip: 'worker counters went back (forwarder restarted)' };
    spans.push(share.cycles);
    workers.push({ cpu, numa: w.numa, load: share.load });
  }
  // Every worker's busy + idle spans the interval: their median is the
  // interval in TSC cycles, on the forwarder's own clock.
  const elapsed = median(spans) || ((cur.atMs - prev.atMs) / 1000) * cur.tscHz;
  if (!(elapsed > 0)) return { skip: 'no time passed between the samples' };
  const units: Unit[] = [];
  for (const [id, r] of cur.relays) {
    const before = prev.relays.get(id);
    for (const dir of ['vf_to_vm', 'vm_to_vf'] as const) {
      const d = r.dirs[dir];
      const delta = before ? d.busy - before.dirs[dir].busy : 0;
      // New (or re-plugged) since the last sample: no cost known yet; it stays put this time.
      const known = before !== undefined && delta >= 0;
      units.push({ relay: id, dir, cpu: d.cpu, numa: r.numa, cost: known ? delta / elapsed : 0, pinned: pinned.has(id) || !known });
    }
  }
  workers.sort((a, b) => a.cpu - b.cpu);
  units.sort((a, b) => a.relay - b.relay || a.dir.localeCompare(b.dir));
  return { interval, workers, units };
}
