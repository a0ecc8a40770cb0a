// The supervisor's metrics (VIO4WD_METRICS_EP): the dataplane's counters,
// read at each scrape from the counters it keeps anyway (its fast path does
// nothing for this), with offsets carried across dataplane restarts and
// re-plugs so that no counter goes backwards; the service's own events.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics, productVersion, type DataplaneRelay, type DataplaneWorker, type StatsReply } from '@vio4wd/common';
import { relayIdent, type RelaySpec } from './relay-table.js';
import type { RequestLabels } from './zmq-server.js';

/** Where a scrape's numbers come from. */
export interface MetricsSource {
  /** Relays of the desired state (those not plugged too). */
  desired(): RelaySpec[];
  /** Why a relay of the desired state is not plugged, if it is not. */
  unplugged(id: number): string | undefined;
  /** The running dataplane's counters; undefined while there is none (it is restarting). */
  sample(): Promise<StatsReply | undefined>;
  /** Which dataplane answers now (a new one counts from zero). */
  generation(): number;
  /** How many times relay id has been plugged (each plug counts from zero). */
  plugs(id: number): number;
  /** DPDK's release, as the dataplane says. */
  dpdkRelease(): string;
}

const DIRECTIONS = ['vf_to_vm', 'vm_to_vf'] as const;

/** Every counter of a relay the dataplane keeps, flat: key -> value. */
type Totals = Record<string, number>;

function relayTotals(r: DataplaneRelay, tscHz: number): Totals {
  const t: Totals = { vf_rx_missed: r.vf_rx_missed, vm_connects: r.vm_connects, vm_disconnects: r.vm_disconnects };
  for (const d of DIRECTIONS) {
    const s = r[d];
    t[`${d}.rx_pkts`] = s.rx_pkts;
    t[`${d}.rx_bytes`] = s.rx_bytes;
    t[`${d}.tx_pkts`] = s.tx_pkts;
    t[`${d}.tx_bytes`] = s.tx_bytes;
    t[`${d}.drop_full_pkts`] = s.drop_full_pkts;
    t[`${d}.drop_full_bytes`] = s.drop_full_bytes;
    t[`${d}.drop_nc_pkts`] = s.drop_nc_pkts;
    t[`${d}.drop_nc_bytes`] = s.drop_nc_bytes;
    t[`${d}.busy_s`] = tscHz > 0 ? s.busy_cycles / tscHz : 0;
  }
  return t;
}

function workerTotals(w: DataplaneWorker, tscHz: number): Totals {
  return { busy_s: tscHz > 0 ? w.busy_cycles / tscHz : 0, idle_s: tscHz > 0 ? w.idle_cycles / tscHz : 0 };
}

/**
 * A source of counters that starts from zero again now and then (a new
 * dataplane, a relay plugged again): what it counted before is carried, so
 * that base + current never goes backwards. What a dataplane counted after
 * the last read before it died is lost (it cannot be read any more).
 */
class Carried {
  private base: Totals = {};
  private last: Totals = {};
  private instance: string | undefined;

  /** The source's counters now (instance: which incarnation counted them), or undefined: it is gone. */
  update(instance: string | undefined, now: Totals | undefined): void {
    const reset = instance !== this.instance || (now !== undefined && Object.entries(now).some(([k, v]) => v < (this.last[k] ?? 0)));
    if (reset) {
      for (const [k, v] of Object.entries(this.last)) this.base[k] = (this.base[k] ?? 0) + v;
      this.last = {};
      this.instance = instance;
    }
    if (now) this.last = { ...now };
  }

  get(key: string): number {
    return (this.base[key] ?? 0) + (this.last[key] ?? 0);
  }
}

const RELAY_LABELS = ['relay', 'vf', 'vhost_path', 'ident'] as const;
const DIR_LABELS = [...RELAY_LABELS, 'direction'] as const;
type RelayLabel = (typeof RELAY_LABELS)[number];
type DirLabel = (typeof DIR_LABELS)[number];

export class ForwarderMetrics {
  readonly registry = new Registry();
  private readonly relays = new Map<number, { key: string; carried: Carried }>();
  private readonly workers = new Map<number, Carried>();
  private queue: Promise<unknown> = Promise.resolve();

  private readonly rxPackets: Counter<DirLabel>;
  private readonly rxBytes: Counter<DirLabel>;
  private readonly txPackets: Counter<DirLabel>;
  private readonly txBytes: Counter<DirLabel>;
  private readonly dropPackets: Counter<DirLabel | 'reason'>;
  private readonly dropBytes: Counter<DirLabel | 'reason'>;
  private readonly relayBusy: Counter<DirLabel>;
  private readonly relayCpu: Gauge<DirLabel>;
  private readonly connected: Gauge<RelayLabel>;
  private readonly plugged: Gauge<RelayLabel>;
  private readonly vfUp: Gauge<RelayLabel>;
  private readonly connects: Counter<RelayLabel>;
  private readonly disconnects: Counter<RelayLabel>;
  private readonly mtu: Gauge<RelayLabel>;
  private readonly numa: Gauge<RelayLabel>;
  private readonly workerBusy: Counter<'cpu'>;
  private readonly workerIdle: Counter<'cpu'>;
  private readonly workerDirections: Gauge<'cpu'>;
  private readonly dataplaneUp: Gauge;
  private readonly relaysDesired: Gauge<'state'>;
  private readonly buildInfo: Gauge<'version' | 'dpdk'>;
  readonly dataplaneRestarts: Counter;
  readonly relaysRestored: Counter;
  private readonly requests: Counter<'endpoint' | 'op' | 'result'>;
  private readonly latency: Histogram<'endpoint' | 'op'>;

  constructor(private readonly source: MetricsSource) {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames, registers });
    this.rxPackets = counter('vio4wd_relay_received_packets_total', 'Packets a relay direction read from its source (the VF for vf_to_vm, the VM for vm_to_vf).', DIR_LABELS);
    this.rxBytes = counter('vio4wd_relay_received_bytes_total', 'Bytes a relay direction read from its source.', DIR_LABELS);
    this.txPackets = counter('vio4wd_relay_sent_packets_total', 'Packets a relay direction delivered to its destination (the VM for vf_to_vm, the VF for vm_to_vf).', DIR_LABELS);
    this.txBytes = counter('vio4wd_relay_sent_bytes_total', 'Bytes a relay direction delivered to its destination.', DIR_LABELS);
    this.dropPackets = counter('vio4wd_relay_dropped_packets_total',
      'Packets dropped, by reason: queue_full (the destination took nothing for a whole hold, VIO4WD_HOLD_US), not_connected (no VM, or its queue not enabled), vf_ring_full (the VF\'s own receive ring overflowed; vf_to_vm only).',
      [...DIR_LABELS, 'reason']);
    this.dropBytes = counter('vio4wd_relay_dropped_bytes_total', 'Bytes dropped, by reason (queue_full, not_connected; the VF does not count the bytes it missed).', [...DIR_LABELS, 'reason']);
    this.relayBusy = counter('vio4wd_relay_busy_seconds_total', 'Time a worker spent moving packets of a relay direction.', DIR_LABELS);
    this.relayCpu = gauge('vio4wd_relay_cpu', 'The CPU (worker lcore) serving a relay direction.', DIR_LABELS);
    this.connected = gauge('vio4wd_relay_vm_connected', '1 while a VM is connected to the relay\'s vhost-user socket.', RELAY_LABELS);
    this.plugged = gauge('vio4wd_relay_plugged', '1 while the relay is in the dataplane; 0: in the desired state but not plugged (retried; see the log).', RELAY_LABELS);
    this.vfUp = gauge('vio4wd_relay_vf_link_up', '1 while the VF\'s link is up.', RELAY_LABELS);
    this.connects = counter('vio4wd_relay_vm_connects_total', 'VMs that connected to the relay\'s socket.', RELAY_LABELS);
    this.disconnects = counter('vio4wd_relay_vm_disconnects_total', 'VMs that disconnected from the relay\'s socket.', RELAY_LABELS);
    this.mtu = gauge('vio4wd_relay_vf_mtu_bytes', 'The VF\'s MTU.', RELAY_LABELS);
    this.numa = gauge('vio4wd_relay_buffer_numa_node', 'NUMA node of the relay\'s guest-side packet buffers (-1: not placed yet).', RELAY_LABELS);
    this.workerBusy = counter('vio4wd_worker_busy_seconds_total', 'Time a worker CPU spent moving packets.', ['cpu']);
    this.workerIdle = counter('vio4wd_worker_idle_seconds_total', 'Time a worker CPU polled and found nothing.', ['cpu']);
    this.workerDirections = gauge('vio4wd_worker_directions', 'Relay directions a worker CPU serves.', ['cpu']);
    this.dataplaneUp = new Gauge({ name: 'vio4wd_dataplane_up', help: '1 when the dataplane answered this scrape.', registers });
    this.relaysDesired = gauge('vio4wd_relays', 'Relays of the desired state, by state (plugged, unplugged).', ['state']);
    this.buildInfo = gauge('vio4wd_build_info', 'The release of vio4wd and of the DPDK its dataplane runs on (value 1).', ['version', 'dpdk']);
    this.dataplaneRestarts = new Counter({ name: 'vio4wd_dataplane_restarts_total', help: 'Times the dataplane died and was started again.', registers });
    this.relaysRestored = new Counter({ name: 'vio4wd_relays_restored_total', help: 'Relays plugged again into a restarted dataplane.', registers });
    this.requests = counter('vio4wd_requests_total', 'ZeroMQ requests answered, by endpoint (port_control, stats, core_sched, config), operation and result (ok or the errno).', ['endpoint', 'op', 'result']);
    this.latency = new Histogram({
      name: 'vio4wd_request_duration_seconds',
      help: 'Time from a request\'s arrival to its reply, by endpoint and operation.',
      labelNames: ['endpoint', 'op'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    collectProcessMetrics(this.registry);
  }

  /** A ZeroMQ request answered (ZmqServer's observer). */
  readonly observeRequest = (endpoint: string, labels: RequestLabels, seconds: number): void => {
    this.requests.inc({ endpoint, op: labels.op, result: labels.result });
    this.latency.observe({ endpoint, op: labels.op }, seconds);
  };

  /** The exposition text; scrapes that overlap take turns (each reads the dataplane once). */
  scrape(): Promise<string> {
    const next = this.queue.then(() => this.collect());
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async collect(): Promise<string> {
    const generation = this.source.generation();
    let stats: StatsReply | undefined;
    try {
      stats = await this.source.sample();
    } catch {
      stats = undefined;
    }
    // A dataplane that restarted while it was asked: its sample is not the one the generation names.
    if (this.source.generation() !== generation) stats = undefined;
    this.fill(stats, generation);
    return this.registry.metrics();
  }

  private fill(stats: StatsReply | undefined, generation: number): void {
    for (const m of [this.rxPackets, this.rxBytes, this.txPackets, this.txBytes, this.dropPackets, this.dropBytes, this.relayBusy,
      this.connects, this.disconnects, this.workerBusy, this.workerIdle]) m.reset();
    for (const m of [this.relayCpu, this.connected, this.plugged, this.vfUp, this.mtu, this.numa, this.workerDirections, this.relaysDesired, this.buildInfo]) m.reset();
    this.dataplaneUp.set(stats ? 1 : 0);
    this.buildInfo.set({ version: productVersion(), dpdk: this.source.dpdkRelease() }, 1);

    const byId = new Map((stats?.relays ?? []).map((r) => [r.id, r]));
    const hz = stats?.tsc_hz ?? 0;
    const desired = this.source.desired();
    const kept = new Set<number>();
    let pluggedCount = 0;
    const directions = new Map<number, number>();
    for (const spec of desired) {
      kept.add(spec.id);
      const key = `${spec.vhostPath}\n${spec.devices.join(';')}`;
      let entry = this.relays.get(spec.id);
      // Replaced by another relay of the same number: a series of its own, from zero.
      if (!entry || entry.key !== key) {
        entry = { key, carried: new Carried() };
        this.relays.set(spec.id, entry);
      }
      const r = this.source.unplugged(spec.id) === undefined ? byId.get(spec.id) : undefined;
      if (stats) entry.carried.update(r ? `${generation}:${this.source.plugs(spec.id)}` : undefined, r ? relayTotals(r, hz) : undefined);
      const c = entry.carried;
      const rl = { relay: String(spec.id), vf: spec.pcis.join(','), vhost_path: spec.vhostPath, ident: relayIdent(spec) ?? '' };
      this.plugged.set(rl, r ? 1 : 0);
      if (r) pluggedCount++;
      this.connected.set(rl, r?.connected ? 1 : 0);
      this.vfUp.set(rl, r?.vf_up ? 1 : 0);
      this.connects.inc(rl, c.get('vm_connects'));
      this.disconnects.inc(rl, c.get('vm_disconnects'));
      if (r) {
        this.mtu.set(rl, r.vf_mtu);
        this.numa.set(rl, r.buffer_node);
      }
      for (const [i, d] of DIRECTIONS.entries()) {
        const dl = { ...rl, direction: d };
        this.rxPackets.inc(dl, c.get(`${d}.rx_pkts`));
        this.rxBytes.inc(dl, c.get(`${d}.rx_bytes`));
        this.txPackets.inc(dl, c.get(`${d}.tx_pkts`));
        this.txBytes.inc(dl, c.get(`${d}.tx_bytes`));
        this.dropPackets.inc({ ...dl, reason: 'queue_full' }, c.get(`${d}.drop_full_pkts`));
        this.dropPackets.inc({ ...dl, reason: 'not_connected' }, c.get(`${d}.drop_nc_pkts`));
        this.dropBytes.inc({ ...dl, reason: 'queue_full' }, c.get(`${d}.drop_full_bytes`));
        this.dropBytes.inc({ ...dl, reason: 'not_connected' }, c.get(`${d}.drop_nc_bytes`));
        if (d === 'vf_to_vm') this.dropPackets.inc({ ...dl, reason: 'vf_ring_full' }, c.get('vf_rx_missed'));
        this.relayBusy.inc(dl, c.get(`${d}.busy_s`));
        const cpu = r?.cpu[i];
        if (cpu !== undefined && cpu >= 0) {
          this.relayCpu.set(dl, cpu);
          directions.set(cpu, (directions.get(cpu) ?? 0) + 1);
        }
      }
    }
    // A relay removed stops being exported, and its carried counts go.
    for (const id of [...this.relays.keys()]) if (!kept.has(id)) this.relays.delete(id);
    this.relaysDesired.set({ state: 'plugged' }, pluggedCount);
    this.relaysDesired.set({ state: 'unplugged' }, desired.length - pluggedCount);

    if (stats) for (const w of stats.workers) {
      let c = this.workers.get(w.lcore);
      if (!c) this.workers.set(w.lcore, (c = new Carried()));
      c.update(String(generation), workerTotals(w, hz));
    }
    for (const [lcore, c] of this.workers) {
      const l = { cpu: String(lcore) };
      this.workerBusy.inc(l, c.get('busy_s'));
      this.workerIdle.inc(l, c.get('idle_s'));
      this.workerDirections.set(l, directions.get(lcore) ?? 0);
    }
  }
}
