// Stats (ZeroMQ StatsRequest): dataplane counters in the original's shape,
// with rates measured over the requested delay.
import {
  MAX_RELAYS,
  busyShare,
  MAX_STATS_DELAY_MS,
  StatsStatus,
  type DataplaneRelay,
  type DataplaneWorker,
  type DirStats,
  type RelayState,
  type StatsReply,
  type StatsRequest,
  type StatsResponse,
  type WorkerLoad,
} from '@vio4wd/common';
import { relayIdent, type RelaySpec, type RelayTable } from './relay-table.js';

export interface StatsSource {
  /** Every relay's counters, or those of the relays `ids` (the ones of them that exist). */
  stats(ids?: readonly number[]): Promise<StatsReply>;
}

/**
 * Stats requests served concurrently share the dataplane's samples: one that
 * asks while a sample of the same relays is on its way gets that one, not a
 * place in the queue behind it (the sample is at most one round trip older
 * than the request; rates use the samples' own clock).
 */
export function sharedSamples(fetch: (ids?: readonly number[]) => Promise<StatsReply>): StatsSource {
  const pending = new Map<string, Promise<StatsReply>>();
  return {
    stats: (ids) => {
      const key = ids ? [...ids].sort((a, b) => a - b).join(',') : 'all';
      const shared = pending.get(key);
      if (shared) return shared;
      const p = fetch(ids);
      pending.set(key, p);
      p.then(() => undefined, () => undefined).finally(() => {
        if (pending.get(key) === p) pending.delete(key);
      });
      return p;
    },
  };
}

function rate(a: DirStats | undefined, b: DirStats, key: keyof DirStats, seconds: number): number {
  if (!a || seconds <= 0) return 0;
  return Math.max(0, b[key] - a[key]) / seconds;
}

/** Fraction of one CPU that busy cycles took over a window of `cycles` TSC cycles. */
function share(busyBefore: number | undefined, busyAfter: number, cycles: number): number | undefined {
  if (busyBefore === undefined || cycles <= 0) return undefined;
  return Math.min(1, Math.max(0, busyAfter - busyBefore) / cycles);
}

function relayState(r: DataplaneRelay, before: DataplaneRelay | undefined, seconds: number, spec: RelaySpec | undefined, cycles = 0): RelayState {
  const pci = spec?.pcis.join(',');
  const f = r.vf_to_vm;
  const m = r.vm_to_vf;
  const internal = r.vf_gone ? 'VF removed (hot-unplugged)' : r.connected ? 'connected' : 'waiting for VM';
  const state: RelayState = {
    id: r.id,
    active: r.connected,
    // Its identity (given, or derived: relayIdent), else its bond's or the VF port's name.
    ident: (spec ? relayIdent(spec) : undefined) ?? r.bond ?? r.vf_name,
    cpu: { vf_to_vm: r.cpu[0], vm_to_vf: r.cpu[1] },
    vhost: { vhost_socket_name: r.vhost_path },
    vf: { pci_addr_str: pci ?? r.vf },
    socket_id: r.socket_id,
    vf_to_vm: {
      active: r.connected,
      internal_state: internal,
      pkts_rx_from_vf: f.rx_pkts,
      bytes_rx_from_vf: f.rx_bytes,
      pkts_tx_to_vm: f.tx_pkts,
      bytes_tx_to_vm: f.tx_bytes,
      pkts_dropped_vm_queue_full: f.drop_full_pkts,
      bytes_dropped_vm_queue_full: f.drop_full_bytes,
      pkts_dropped_vm_not_connected: f.drop_nc_pkts,
      bytes_dropped_vm_not_connected: f.drop_nc_bytes,
      pkt_rate_rx_from_vf: rate(before?.vf_to_vm, f, 'rx_pkts', seconds),
      byte_rate_rx_from_vf: rate(before?.vf_to_vm, f, 'rx_bytes', seconds),
      pkt_rate_tx_to_vm: rate(before?.vf_to_vm, f, 'tx_pkts', seconds),
      byte_rate_tx_to_vm: rate(before?.vf_to_vm, f, 'tx_bytes', seconds),
      busy_cycles: f.busy_cycles,
      load: share(before?.vf_to_vm.busy_cycles, f.busy_cycles, cycles),
    },
    vm_to_vf: {
      active: r.connected,
      internal_state: internal,
      pkts_rx_from_vm: m.rx_pkts,
      bytes_rx_from_vm: m.rx_bytes,
      pkts_tx_to_vf: m.tx_pkts,
      bytes_tx_to_vf: m.tx_bytes,
      pkts_dropped_vf_queue_full: m.drop_full_pkts,
      bytes_dropped_vf_queue_full: m.drop_full_bytes,
      pkts_dropped_vf_not_connected: m.drop_nc_pkts,
      bytes_dropped_vf_not_connected: m.drop_nc_bytes,
      pkt_rate_rx_from_vm: rate(before?.vm_to_vf, m, 'rx_pkts', seconds),
      byte_rate_rx_from_vm: rate(before?.vm_to_vf, m, 'rx_bytes', seconds),
      pkt_rate_tx_to_vf: rate(before?.vm_to_vf, m, 'tx_pkts', seconds),
      byte_rate_tx_to_vf: rate(before?.vm_to_vf, m, 'tx_bytes', seconds),
      busy_cycles: m.busy_cycles,
      load: share(before?.vm_to_vf.busy_cycles, m.busy_cycles, cycles),
    },
  };
  return state;
}

function workerLoads(now: readonly DataplaneWorker[], then: readonly DataplaneWorker[] | undefined): WorkerLoad[] {
  return now.map((w) => {
    const out: WorkerLoad = { cpu: w.lcore, busy_cycles: w.busy_cycles, idle_cycles: w.idle_cycles };
    if (w.numa_node !== undefined && w.numa_node >= 0) out.numa_node = w.numa_node;
    const prev = then?.find((p) => p.lcore === w.lcore);
    const share = prev && busyShare({ busy: prev.busy_cycles, idle: prev.idle_cycles }, { busy: w.busy_cycles, idle: w.idle_cycles });
    if (share) out.load = share.load;
    return out;
  });
}

const ZERO: DirStats = { rx_pkts: 0, rx_bytes: 0, tx_pkts: 0, tx_bytes: 0, drop_full_pkts: 0, drop_full_bytes: 0, drop_nc_pkts: 0, drop_nc_bytes: 0, busy_cycles: 0 };

/** A relay of the desired state the dataplane does not have: all zeros, and why. */
function unpluggedState(spec: RelaySpec, why: string): RelayState {
  const r = relayState({
    id: spec.id, vf: spec.devices.join(';'), vf_name: spec.bond?.name ?? spec.pcis.join(','), vf_port: -1,
    vhost_path: spec.vhostPath, vhost_client: spec.vhostClient, connected: false, vf_up: false, socket_id: 0,
    vhost_features: 0, vf_mtu: 0, vf_rx_missed: 0, vm_connects: 0, vm_disconnects: 0, buffer_node: -1, cpu: spec.cpu ?? [-1, -1], vf_to_vm: ZERO, vm_to_vf: ZERO,
  }, undefined, 0, spec);
  const internal = `not plugged: ${why}`;
  return { ...r, vf_to_vm: { ...r.vf_to_vm, internal_state: internal }, vm_to_vf: { ...r.vm_to_vf, internal_state: internal } };
}

export async function answerStats(req: StatsRequest, source: StatsSource, table: RelayTable,
  unplugged: ReadonlyMap<number, string> = new Map()): Promise<StatsResponse> {
  if (req.relay.some((id) => id >= MAX_RELAYS) || req.delay > MAX_STATS_DELAY_MS) return { status: StatsStatus.EBADR, relay: [], worker: [] };
  const wanted = (id: number) => req.relay.length === 0 || req.relay.includes(id);
  // Only the relays asked for: a poll of one relay among 64 costs what one does.
  const sample = () => source.stats(req.relay.length > 0 ? req.relay : undefined);
  let before: StatsReply | undefined;
  let after = await sample();
  if (req.delay > 0) {
    before = after;
    await new Promise((resolve) => setTimeout(resolve, req.delay));
    after = await sample();
  }
  // A dataplane restarted between the samples has a new TSC origin: no rates then.
  const cycles = before && after.tsc > before.tsc ? after.tsc - before.tsc : 0;
  const seconds = cycles / after.tsc_hz;
  const relays = after.relays
    .filter((r) => wanted(r.id))
    .filter((r) => req.include_inactive || r.connected)
    .map((r) => relayState(r, before?.relays.find((b) => b.id === r.id), seconds, table.get(r.id), cycles));
  if (req.include_inactive) {
    for (const [id, why] of unplugged) {
      const spec = table.get(id);
      if (spec && wanted(id) && !relays.some((r) => r.id === id))
        relays.push(unpluggedState(spec, why));
    }
    relays.sort((a, b) => a.id - b.id);
  }
  return { status: StatsStatus.OK, relay: relays, tsc_hz: after.tsc_hz, worker: workerLoads(after.workers, before?.workers) };
}
