// The load balancer's decision, apart from all I/O (docs/core-scheduler.md):
// given what each worker CPU and each relay direction spent over the last
// poll, which directions to move where. plan() is pure: the service, the
// tests and the simulator (npm run bench:sched) all drive this same code.

export type Direction = 'vf_to_vm' | 'vm_to_vf';

export const DIRECTION_LABEL: Record<Direction, string> = { vf_to_vm: 'VF->VM', vm_to_vf: 'VM->VF' };

/** One direction of one relay: the unit of work a worker polls. */
export interface Unit {
  relay: number;
  dir: Direction;
  /** The worker CPU serving it now. */
  cpu: number;
  /** Measured cost: the fraction of one CPU its packets took (busy cycles / elapsed cycles). */
  cost: number;
  /** NUMA node of the relay's memory. */
  numa: number;
  /** Never moved (VIRTIOFWD_CPU_PINS with keep-pins). */
  pinned: boolean;
}

export interface Worker {
  cpu: number;
  /** -1: unknown (treated as a node of its own only with the global option off). */
  numa: number;
  /** busy / (busy + idle) over the interval, 0..1. */
  load: number;
}

/** One interval's measurement. */
export interface Snapshot {
  /** Counts polls; only differences matter. */
  interval: number;
  workers: Worker[];
  units: Unit[];
}

export interface Settings {
  /** Share (0..1] of the busiest worker's excess over the ideal that a rebalance must remove. */
  sensitivity: number;
  /** A worker above this load (0..1) is overloaded. */
  loadThreshold: number;
  /** Intervals a worker must stay overloaded before its domain is rebalanced. */
  sustainIntervals: number;
  /** Workers of every NUMA node are candidates for every relay. */
  globalNuma: boolean;
  /** Directions cheaper than this (fraction of a CPU) are idle and never moved. */
  idleCost: number;
  /** The smallest predicted gain (fraction of a CPU) worth a move: above measurement noise. */
  minGain: number;
  /**
   * Relative error assumed in a direction's measured cost: a plan must also
   * gain more than the error its moves put into the worst worker's
   * prediction (costNoise x the root of the sum of squares of the costs
   * moved onto or off that worker).
   */
  costNoise: number;
  /** A moved direction does not go back where it came from for this many intervals... */
  holdIntervals: number;
  /** ...unless its cost changed by this factor (either way), and never within FLAP_WINDOW. */
  changeFactor: number;
}

export const DEFAULT_SETTINGS: Settings = {
  sensitivity: 0.25,
  loadThreshold: 0.8,
  sustainIntervals: 3,
  globalNuma: false,
  idleCost: 0.01,
  minGain: 0.05,
  costNoise: 0.1,
  holdIntervals: 12,
  changeFactor: 2,
};

/** Intervals within which going back is a flap, whatever happened to the load. */
export const FLAP_WINDOW = 3;

export interface MoveRecord {
  interval: number;
  from: number;
  to: number;
  cost: number;
}

export interface History {
  /** Per worker CPU: consecutive intervals above the load threshold. */
  overloaded: ReadonlyMap<number, number>;
  /** Per direction (unitKey): its last move. */
  moved: ReadonlyMap<string, MoveRecord>;
  /** The last polls' snapshots under the current placement, oldest first (at most WINDOW_POLLS). */
  recent?: readonly Snapshot[];
}

export const EMPTY_HISTORY: History = { overloaded: new Map(), moved: new Map(), recent: [] };

/**
 * A decision is taken on what the CPUs spent over the whole sustained
 * overload (at most this many polls), not on its last poll: one noisy poll
 * cannot trigger a rebalance that the polls before it did not warrant.
 */
export const WINDOW_POLLS = 12;

/** Whether b was measured under a's placement: same workers, every direction where it was. */
function samePlacement(a: Snapshot, b: Snapshot): boolean {
  if (a.workers.length !== b.workers.length || a.workers.some((w, i) => w.cpu !== b.workers[i]?.cpu)) return false;
  const cpuOf = new Map(a.units.map((u) => [unitKey(u.relay, u.dir), u.cpu]));
  return b.units.every((u) => (cpuOf.get(unitKey(u.relay, u.dir)) ?? u.cpu) === u.cpu);
}

/** The mean of the last n snapshots' loads and costs, in the latest one's shape. */
function meanOf(snaps: readonly Snapshot[], n: number): Snapshot {
  const last = snaps[snaps.length - 1] as Snapshot;
  const use = snaps.slice(-Math.max(1, n));
  if (use.length === 1) return last;
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  return {
    interval: last.interval,
    workers: last.workers.map((w) => ({ ...w, load: mean(use.map((s) => s.workers.find((x) => x.cpu === w.cpu)?.load ?? w.load)) })),
    // A direction not yet known in an older poll counts from when it is.
    units: last.units.map((u) => {
      const seen = use.flatMap((s) => s.units.filter((x) => x.relay === u.relay && x.dir === u.dir).map((x) => x.cost));
      return { ...u, cost: mean(seen.length > 0 ? seen : [u.cost]) };
    }),
  };
}

export interface Move {
  relay: number;
  dir: Direction;
  from: number;
  to: number;
  cost: number;
}

/** Why a domain was (or was not) rebalanced, for the log. */
export interface DomainReport {
  /** NUMA node, or 'all' with the global option. */
  domain: string;
  busiest: number;
  /** Its load now, and as predicted after the moves. */
  before: number;
  after: number;
  /** The lower bound: max(mean load, largest single direction). */
  bound: number;
  /** Consecutive intervals the trigger worker was overloaded. */
  overloadedFor: number;
  moves: Move[];
  /** Set when nothing moves: why. */
  idle?: string;
}

export interface Decision {
  moves: Move[];
  reports: DomainReport[];
  /** The history to use next if the moves are applied... */
  history: History;
  /** ...and if they are not (dry run, or the forwarder refused them). */
  unapplied: History;
}

export const unitKey = (relay: number, dir: Direction) => `${relay}/${dir}`;

const EPS = 1e-9;
/** A step of the search must lower the busiest load by this much, or the spread (sum of squares) by SPREAD_EPS. */
const STEP_GAIN = 0.002;
const SPREAD_EPS = 1e-4;

interface Placement {
  load: Map<number, number>;
  cpuOf: Map<string, number>;
}

function maxLoad(workers: readonly number[], load: ReadonlyMap<number, number>): number {
  return Math.max(...workers.map((w) => load.get(w) ?? 0));
}

function spread(workers: readonly number[], load: ReadonlyMap<number, number>): number {
  return workers.reduce((s, w) => s + (load.get(w) ?? 0) ** 2, 0);
}

/** May u go to CPU `to` now? Not back where it just came from (see Settings.holdIntervals). */
function allowedTo(u: Unit, to: number, history: History, interval: number, s: Settings): boolean {
  const m = history.moved.get(unitKey(u.relay, u.dir));
  if (!m || m.from !== to) return true;
  const age = interval - m.interval;
  if (age >= s.holdIntervals) return true;
  if (age <= FLAP_WINDOW) return false;
  const ratio = Math.max(u.cost, EPS) / Math.max(m.cost, EPS);
  return ratio >= s.changeFactor || ratio <= 1 / s.changeFactor;
}

interface Candidate {
  max: number;
  spread: number;
  /** Load the step moves: between equal results, the lighter move disturbs less. */
  moved: number;
  apply: () => void;
}

/**
 * Greedy descent on (busiest load, spread): each step moves one direction
 * off a busiest worker (or swaps two) where that lowers the busiest load, or
 * keeps it and evens out the rest. Returns the placement reached.
 */
function descend(workers: readonly number[], movable: readonly Unit[], start: Placement, ok: (u: Unit, to: number) => boolean): Placement {
  const load = new Map(start.load);
  const cpuOf = new Map(start.cpuOf);
  const key = (u: Unit) => unitKey(u.relay, u.dir);
  for (let step = 0; step < 4 * movable.length + 4; step++) {
    const curMax = maxLoad(workers, load);
    const curSpread = spread(workers, load);
    let best: Candidate | null = null;
    const consider = (changes: [number, number][], moved: number, apply: () => void) => {
      const trial = new Map(load);
      for (const [w, d] of changes) trial.set(w, (trial.get(w) ?? 0) + d);
      const m = maxLoad(workers, trial);
      const sp = spread(workers, trial);
      const better = m < curMax - STEP_GAIN || (m <= curMax + EPS && sp < curSpread - SPREAD_EPS);
      if (!better) return;
      const b = best as Candidate | null;
      if (!b || m < b.max - EPS || (m <= b.max + EPS && (sp < b.spread - EPS || (sp <= b.spread + EPS && moved < b.moved))))
        best = { max: m, spread: sp, moved, apply };
    };
    const busiest = workers.filter((w) => (load.get(w) ?? 0) >= curMax - EPS);
    for (const b of busiest) {
      const here = movable.filter((u) => cpuOf.get(key(u)) === b);
      for (const u of here) {
        for (const w of workers) {
          if (w === b || !ok(u, w)) continue;
          consider([[b, -u.cost], [w, u.cost]], u.cost, () => {
            cpuOf.set(key(u), w);
            load.set(b, (load.get(b) ?? 0) - u.cost);
            load.set(w, (load.get(w) ?? 0) + u.cost);
          });
        }
      }
      // Swaps: where every single move overshoots, trading a heavy direction for a lighter one helps.
      for (const u of here) {
        for (const v of movable) {
          const w = cpuOf.get(key(v));
          if (w === undefined || w === b || v.cost >= u.cost || !ok(u, w) || !ok(v, b)) continue;
          const d = u.cost - v.cost;
          consider([[b, -d], [w, d]], u.cost + v.cost, () => {
            cpuOf.set(key(u), w);
            cpuOf.set(key(v), b);
            load.set(b, (load.get(b) ?? 0) - d);
            load.set(w, (load.get(w) ?? 0) + d);
          });
        }
      }
    }
    if (!best) break;
    (best as Candidate).apply();
  }
  return { load, cpuOf };
}

/** Undo every move whose absence keeps the busiest load where the search got it: fewest moves. */
function prune(workers: readonly number[], movable: readonly Unit[], start: Placement, end: Placement): Placement {
  const load = new Map(end.load);
  const cpuOf = new Map(end.cpuOf);
  const target = maxLoad(workers, end.load);
  const moved = movable
    .filter((u) => cpuOf.get(unitKey(u.relay, u.dir)) !== start.cpuOf.get(unitKey(u.relay, u.dir)))
    .sort((a, b) => a.cost - b.cost || a.relay - b.relay);
  for (const u of moved) {
    const k = unitKey(u.relay, u.dir);
    const from = start.cpuOf.get(k) as number;
    const to = cpuOf.get(k) as number;
    // Undoing a swap's half alone could break the other half: check the whole result.
    const trial = new Map(load);
    trial.set(to, (trial.get(to) ?? 0) - u.cost);
    trial.set(from, (trial.get(from) ?? 0) + u.cost);
    if (maxLoad(workers, trial) <= target + EPS) {
      cpuOf.set(k, from);
      load.set(to, trial.get(to) ?? 0);
      load.set(from, trial.get(from) ?? 0);
    }
  }
  return { load, cpuOf };
}

function planDomain(
  domain: string,
  workers: readonly number[],
  snaps: readonly Snapshot[],
  history: History,
  s: Settings,
  nodeOf: ReadonlyMap<number, number>,
): DomainReport {
  const overloadedFor = Math.max(0, ...workers.map((w) => history.overloaded.get(w) ?? 0));
  // Averaged over the overload (within the same placement).
  const snap = meanOf(snaps, Math.min(overloadedFor, s.sustainIntervals));
  const measured = new Map(snap.workers.map((w) => [w.cpu, w.load]));
  const here = snap.units.filter((u) => workers.includes(u.cpu));
  // Local: the relay's node is this domain's (always, with the global option).
  const local = (u: Unit) => domain === 'all' || String(u.numa) === domain;
  const movable = here.filter((u) => !u.pinned && u.cost >= s.idleCost && local(u));
  // A worker's busy cycles are the sum of its directions'; where a reading
  // disagrees (clipped at 100%, sampled apart), the larger one is the safer base.
  const load = new Map(workers.map((w) => [w, Math.max(measured.get(w) ?? 0, here.filter((u) => u.cpu === w).reduce((a, u) => a + u.cost, 0))]));
  const before = maxLoad(workers, load);
  const busiest = workers.find((w) => (load.get(w) ?? 0) >= before - EPS) ?? workers[0] ?? -1;
  const total = workers.reduce((t, w) => t + (load.get(w) ?? 0), 0);
  const bound = Math.max(total / Math.max(workers.length, 1), ...here.map((u) => u.cost), 0);
  const report: DomainReport = { domain, busiest, before, after: before, bound, overloadedFor, moves: [] };
  if (overloadedFor < s.sustainIntervals) {
    report.idle = overloadedFor === 0 ? 'no worker overloaded' : `overloaded for ${overloadedFor} of ${s.sustainIntervals} polls`;
    return report;
  }
  if (workers.length < 2) {
    report.idle = 'one worker: nowhere to move to';
    return report;
  }
  const start: Placement = { load, cpuOf: new Map(movable.map((u) => [unitKey(u.relay, u.dir), u.cpu])) };
  const ok = (u: Unit, to: number) => allowedTo(u, to, history, snap.interval, s) && (s.globalNuma || nodeOf.get(to) === u.numa || domain === 'all');
  const end = prune(workers, movable, start, descend(workers, movable, start, ok));
  const after = maxLoad(workers, end.load);
  const gain = before - after;
  // Each worker's prediction is off by the errors of the costs moved onto or
  // off it (independent: they add in quadrature); the gain must beat the worst.
  const sq = new Map<number, number>();
  for (const u of movable) {
    const to = end.cpuOf.get(unitKey(u.relay, u.dir)) as number;
    if (to === u.cpu) continue;
    for (const w of [u.cpu, to]) sq.set(w, (sq.get(w) ?? 0) + u.cost ** 2);
  }
  const margin = s.costNoise * Math.sqrt(Math.max(0, ...sq.values()));
  const needed = Math.max(s.minGain + margin, s.sensitivity * (before - bound));
  report.after = after;
  if (gain < needed - EPS) {
    report.after = before;
    report.idle = `balanced as well as moves allow: predicted gain ${pct(gain)} < ${pct(needed)} needed`;
    return report;
  }
  for (const u of movable) {
    const to = end.cpuOf.get(unitKey(u.relay, u.dir));
    if (to !== undefined && to !== u.cpu) report.moves.push({ relay: u.relay, dir: u.dir, from: u.cpu, to, cost: u.cost });
  }
  report.moves.sort((a, b) => a.relay - b.relay || a.dir.localeCompare(b.dir));
  return report;
}

export const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/** The domains: one per NUMA node that has workers, or one for all. */
export function domainsOf(workers: readonly Worker[], globalNuma: boolean): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const w of [...workers].sort((a, b) => a.cpu - b.cpu)) {
    const d = globalNuma ? 'all' : String(w.numa);
    out.set(d, [...(out.get(d) ?? []), w.cpu]);
  }
  return out;
}

export function plan(snap: Snapshot, history: History, s: Settings): Decision {
  const overloaded = new Map<number, number>();
  for (const w of snap.workers) overloaded.set(w.cpu, w.load > s.loadThreshold ? (history.overloaded.get(w.cpu) ?? 0) + 1 : 0);
  const counted: History = { overloaded, moved: history.moved };
  const nodeOf = new Map(snap.workers.map((w) => [w.cpu, w.numa]));
  const before = history.recent ?? [];
  const recent = [...(before.every((r) => samePlacement(r, snap)) ? before : []), snap].slice(-WINDOW_POLLS);
  const reports = [...domainsOf(snap.workers, s.globalNuma)].map(([d, ws]) => planDomain(d, ws, recent, counted, s, nodeOf));
  const moves = reports.flatMap((r) => r.moves);

  // A domain that was rebalanced (or would have been) starts counting afresh:
  // the next decision waits for a sustained overload under the new placement.
  const acted = new Set(reports.filter((r) => r.moves.length > 0).flatMap((r) => domainsOf(snap.workers, s.globalNuma).get(r.domain) ?? []));
  const reset = new Map([...overloaded].map(([cpu, n]) => [cpu, acted.has(cpu) ? 0 : n]));
  const moved = new Map(history.moved);
  // Forget what is long past the hold, and relays that are gone.
  const live = new Set(snap.units.map((u) => unitKey(u.relay, u.dir)));
  for (const [k, m] of moved) if (!live.has(k) || snap.interval - m.interval >= s.holdIntervals) moved.delete(k);
  const unapplied: History = { overloaded: reset, moved: new Map(moved), recent };
  for (const m of moves) moved.set(unitKey(m.relay, m.dir), { interval: snap.interval, from: m.from, to: m.to, cost: m.cost });
  // Applied moves change the placement: the next poll starts a new window.
  return { moves, reports, history: { overloaded: reset, moved, recent: moves.length > 0 ? [] : recent }, unapplied };
}
