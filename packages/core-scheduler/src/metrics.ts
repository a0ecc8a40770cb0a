// vio4wd_core_scheduler's metrics (VIO4WD_CORE_SCHED_METRICS_EP): what it
// polled, decided and moved, and whether it can reach the forwarder.
import { Counter, Gauge, Registry } from 'prom-client';
import { collectProcessMetrics, productVersion } from '@vio4wd/common';
import type { DomainReport } from './plan.js';

export class SchedulerMetrics {
  readonly registry = new Registry();
  private readonly polls: Counter<'result'>;
  private readonly reachable: Gauge;
  private readonly rebalances: Counter<'result'>;
  private readonly moves: Counter<'result'>;
  private readonly busiest: Gauge<'numa_node' | 'when'>;
  private readonly overloadedFor: Gauge<'numa_node'>;

  constructor() {
    const registers = [this.registry];
    this.polls = new Counter({
      name: 'vio4wd_core_sched_polls_total',
      help: 'Polls of the forwarder, by result: ok, or what failed (stats, stats_garbage, stats_status, unsupported, sched, sched_error, update).',
      labelNames: ['result'], registers,
    });
    this.reachable = new Gauge({ name: 'vio4wd_core_sched_forwarder_reachable', help: '1 when the last poll reached the forwarder\'s stats and core scheduling endpoints.', registers });
    this.rebalances = new Counter({
      name: 'vio4wd_core_sched_rebalances_total',
      help: 'Decisions that moved relay directions, by result: applied, refused (by the forwarder), failed (no answer), dry_run.',
      labelNames: ['result'], registers,
    });
    this.moves = new Counter({ name: 'vio4wd_core_sched_moves_total', help: 'Relay directions moved between worker CPUs, by result (as for rebalances).', labelNames: ['result'], registers });
    this.busiest = new Gauge({
      name: 'vio4wd_core_sched_busiest_worker_load_ratio',
      help: 'Load (0-1) of the busiest worker CPU of a NUMA node at the last decision: when="before" as measured, when="after" as predicted after its moves.',
      labelNames: ['numa_node', 'when'], registers,
    });
    this.overloadedFor = new Gauge({ name: 'vio4wd_core_sched_overloaded_polls', help: 'Consecutive polls the busiest worker CPU of a NUMA node has been above the load threshold.', labelNames: ['numa_node'], registers });
    new Gauge({ name: 'vio4wd_build_info', help: 'The release of vio4wd (value 1).', labelNames: ['version'], registers }).set({ version: productVersion() }, 1);
    collectProcessMetrics(this.registry);
  }

  /** A poll ended: ok, or the kind of trouble it met. */
  polled(result: string): void {
    this.polls.inc({ result: result.replace(/-/g, '_') });
    this.reachable.set(result === 'ok' ? 1 : 0);
  }

  decided(reports: readonly DomainReport[]): void {
    for (const r of reports) {
      this.busiest.set({ numa_node: r.domain, when: 'before' }, r.before);
      this.busiest.set({ numa_node: r.domain, when: 'after' }, r.moves.length ? r.after : r.before);
      this.overloadedFor.set({ numa_node: r.domain }, r.overloadedFor);
    }
  }

  rebalanced(result: 'applied' | 'refused' | 'failed' | 'dry_run', moves: number): void {
    this.rebalances.inc({ result });
    this.moves.inc({ result }, moves);
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}
