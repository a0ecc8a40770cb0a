// vio4wd_core_scheduler's service loop: poll the stats endpoint, measure,
// plan(), apply the moves through the core-scheduling endpoint. Whatever the
// forwarder does (absent, restarting, slow, garbage, core scheduling off),
// this loop logs it once, waits a poll interval and tries again.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreSchedOp,
  CoreSchedStatus,
  ReqClient,
  StatsStatus,
  TimeoutError,
  WireError,
  wire,
  type Logger,
  type RelayCpu,
} from '@vio4wd/common';
import { measure, sampleOf, UnsupportedForwarder, type Sample } from './measure.js';
import type { SchedulerMetrics } from './metrics.js';
import { DIRECTION_LABEL, EMPTY_HISTORY, pct, plan, type DomainReport, type History, type Move, type Settings } from './plan.js';

export interface SchedulerOptions {
  statsEp: string;
  schedEp: string;
  pollIntervalS: number;
  settings: Settings;
  dryRun: boolean;
  /** Relays never moved (VIRTIOFWD_CPU_PINS with keep-pins). */
  pinned: ReadonlySet<number>;
  /** Reply timeout of each request (the original clients use 2000 ms). */
  timeoutMs?: number;
}

/** What the scheduler is waiting for, if anything; logged on change only. */
type Trouble = { kind: string; message: string } | null;

export class CoreScheduler {
  private readonly stats: ReqClient;
  private readonly sched: ReqClient;
  private prev: Sample | null = null;
  private history: History = EMPTY_HISTORY;
  private interval = 0;
  private workers: number[] | null = null;
  private trouble: Trouble = { kind: 'start', message: '' };
  /** Moves applied since start (for tests and the status line). */
  movesApplied = 0;
  /** How the poll in progress ended: ok, or the kind of trouble it met. */
  private outcome = 'ok';

  constructor(
    private readonly opts: SchedulerOptions,
    private readonly log: Logger,
    private readonly metrics?: SchedulerMetrics,
  ) {
    this.stats = new ReqClient(opts.statsEp, opts.timeoutMs ?? 2000);
    this.sched = new ReqClient(opts.schedEp, opts.timeoutMs ?? 2000);
  }

  private setTrouble(t: Trouble): void {
    if (t?.kind === this.trouble?.kind) return;
    if (t) this.log.warning(`${t.message}; retrying every ${this.opts.pollIntervalS} s`);
    else this.log.notice(`balancing worker CPUs ${(this.workers ?? []).join(',')} of ${this.opts.statsEp}${this.opts.dryRun ? ' (dry run: no move is made)' : ''}`);
    this.trouble = t;
  }

  /** Forgets everything learnt from a forwarder that may have gone away. */
  private lost(t: Trouble): void {
    if (t) this.outcome = t.kind;
    this.prev = null;
    this.workers = null;
    this.setTrouble(t);
  }

  /** One poll. Never throws for anything the forwarder does. */
  async poll(): Promise<void> {
    this.outcome = 'ok';
    await this.pollOnce();
    this.metrics?.polled(this.outcome);
  }

  private async pollOnce(): Promise<void> {
    let rep;
    try {
      const frame = await this.stats.request(wire.StatsRequest.encode({ relay: [], include_inactive: true, delay: 0 }));
      rep = wire.StatsResponse.decode(frame);
    } catch (e) {
      if (e instanceof WireError) {
        this.stats.reset();
        return this.lost({ kind: 'stats-garbage', message: `stats endpoint ${this.opts.statsEp} answered something that is not a stats reply: ${why(e)}` });
      }
      return this.lost({ kind: 'stats', message: `stats endpoint ${this.opts.statsEp}: ${why(e)} (is virtio-forwarder running?)` });
    }
    const at = performance.now();
    if (rep.status !== StatsStatus.OK) return this.lost({ kind: 'stats-status', message: `stats endpoint ${this.opts.statsEp} refused (status ${rep.status})` });

    let sample: Sample;
    try {
      sample = sampleOf(rep, at);
    } catch (e) {
      if (!(e instanceof UnsupportedForwarder)) throw e;
      return this.lost({ kind: 'unsupported', message: `stats endpoint ${this.opts.statsEp}: ${e.message}` });
    }
    if (this.workers === null) {
      try {
        const r = wire.CoreSchedResponse.decode(await this.sched.request(wire.CoreSchedRequest.encode({ op: CoreSchedOp.GET_EAL_CORES, relay_cpu_map: [] })));
        if (r.status !== CoreSchedStatus.OK) throw new Error(`GET_EAL_CORES refused: ${r.error_code_source ?? `error ${r.error_code ?? '?'}`}`);
        this.workers = r.eal_cores;
      } catch (e) {
        if (e instanceof WireError) this.sched.reset();
        // Told apart so that each kind of trouble is logged when it starts.
        const hint = e instanceof TimeoutError
          ? ': the forwarder serves stats but not core scheduling; set VIO4WD_CORE_SCHED_ENABLE=true in its configuration and restart virtio-forwarder'
          : '';
        return this.lost({ kind: e instanceof TimeoutError ? 'sched' : 'sched-error', message: `core scheduling endpoint ${this.opts.schedEp}: ${why(e)}${hint}` });
      }
    }

    this.setTrouble(null);
    const prev = this.prev;
    this.prev = sample;
    if (!prev) return;
    const snap = measure(prev, sample, ++this.interval, this.opts.pinned);
    if ('skip' in snap) {
      this.log.info(`this poll is not used: ${snap.skip}`);
      this.workers = null;
      return;
    }
    const decision = plan(snap, this.history, this.opts.settings);
    this.metrics?.decided(decision.reports);
    for (const r of decision.reports) if (r.idle) this.log.debug(`NUMA ${r.domain}: busiest CPU ${r.busiest} at ${pct(r.before)}: ${r.idle}`);
    if (decision.moves.length === 0) {
      this.history = decision.history;
      return;
    }
    for (const r of decision.reports) for (const m of r.moves) this.log.notice(this.describe(m, r));
    if (this.opts.dryRun) {
      this.log.notice(`dry run: ${decision.moves.length} move(s) not made`);
      this.metrics?.rebalanced('dry_run', decision.moves.length);
      this.history = decision.unapplied;
      return;
    }
    const ok = await this.apply(decision.moves, rep.relay.map((r) => ({ id: r.id, cpu: [r.cpu?.vf_to_vm ?? -1, r.cpu?.vm_to_vf ?? -1] as const })));
    this.history = ok ? decision.history : decision.unapplied;
    if (ok) this.movesApplied += decision.moves.length;
  }

  private describe(m: Move, r: DomainReport): string {
    const secs = (r.overloadedFor * this.opts.pollIntervalS).toFixed(0);
    return `${this.opts.dryRun ? 'would move' : 'moving'} relay ${m.relay} ${DIRECTION_LABEL[m.dir]} from CPU ${m.from} to CPU ${m.to} ` +
      `(${pct(m.cost)} of a CPU): CPU ${r.busiest} above ${pct(this.opts.settings.loadThreshold)} for ${r.overloadedFor} polls (${secs} s), ` +
      `busiest CPU of NUMA ${r.domain} predicted ${pct(r.before)} -> ${pct(r.after)} (ideal ${pct(r.bound)})`;
  }

  /** One UPDATE with every relay that moves (both of its directions named). */
  private async apply(moves: readonly Move[], current: readonly { id: number; cpu: readonly [number, number] }[]): Promise<boolean> {
    const target = new Map<number, [number, number]>();
    for (const m of moves) {
      const cpu = target.get(m.relay) ?? [...(current.find((c) => c.id === m.relay)?.cpu ?? [m.from, m.from])] as [number, number];
      cpu[m.dir === 'vf_to_vm' ? 0 : 1] = m.to;
      target.set(m.relay, cpu);
    }
    const map: RelayCpu[] = [...target].map(([id, [vf2vm, vm2vf]]) => ({ relay_number: id, vf2virtio_cpu: vf2vm, virtio2vf_cpu: vm2vf }));
    try {
      const r = wire.CoreSchedResponse.decode(await this.sched.request(wire.CoreSchedRequest.encode({ op: CoreSchedOp.UPDATE, relay_cpu_map: map })));
      if (r.status === CoreSchedStatus.OK) {
        this.metrics?.rebalanced('applied', moves.length);
        return true;
      }
      this.log.warning(`the forwarder refused the moves: ${r.error_code_source ?? `error ${r.error_code ?? '?'}`}`);
      this.metrics?.rebalanced('refused', moves.length);
      return false;
    } catch (e) {
      this.metrics?.rebalanced('failed', moves.length);
      if (e instanceof WireError) this.sched.reset();
      // A timed-out UPDATE may or may not have been applied: start measuring afresh.
      this.lost({ kind: 'update', message: `core scheduling endpoint ${this.opts.schedEp}: UPDATE failed: ${why(e)}` });
      return false;
    }
  }

  /** After a first poll(): polls every interval until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    for (;;) {
      try {
        await sleep(this.opts.pollIntervalS * 1000, undefined, { signal });
      } catch {
        break; // aborted
      }
      await this.poll();
    }
    this.close();
  }

  close(): void {
    this.stats.reset();
    this.sched.reset();
  }
}

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
