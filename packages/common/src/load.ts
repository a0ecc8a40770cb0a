// A worker's load from its cumulative TSC cycle counters, as the forwarder's
// stats, the core scheduler and the load monitor all compute it.

/** Cumulative TSC cycles a worker spent moving packets (busy) and not (idle). */
export interface CycleCounters {
  busy: number;
  idle: number;
}

/**
 * The busy share (0..1) between two samples and the cycles the interval
 * spanned; undefined when a counter went back (the dataplane restarted).
 */
export function busyShare(before: CycleCounters, after: CycleCounters): { load: number; cycles: number } | undefined {
  const busy = after.busy - before.busy;
  const idle = after.idle - before.idle;
  if (busy < 0 || idle < 0) return undefined;
  const cycles = busy + idle;
  return { load: cycles > 0 ? busy / cycles : 0, cycles };
}
