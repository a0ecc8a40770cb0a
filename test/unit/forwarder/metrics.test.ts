// ForwarderMetrics over a scripted dataplane: counters carried across a new
// dataplane and a re-plug, never backwards; a removed relay not exported;
// an unplugged one exported with its last counts and plugged 0.
import { describe, expect, test } from '@jest/globals';
import type { DataplaneRelay, StatsReply } from '@vio4wd/common';
import { allowedCpus, ForwarderMetrics, supervisorCpus, type RelaySpec } from '@vio4wd/forwarder';
import { parse, value } from '../../lib/metrics.js';

const dir = (rx: number) => ({ rx_pkts: rx, rx_bytes: rx * 64, tx_pkts: rx, tx_bytes: rx * 64, drop_full_pkts: 0, drop_full_bytes: 0, drop_nc_pkts: 0, drop_nc_bytes: 0, busy_cycles: rx * 100 });
const relay = (id: number, rx: number): DataplaneRelay => ({
  id, vf: 'net_null0', vf_name: 'net_null0', vf_port: 0, vhost_path: `/run/v${id}.sock`, vhost_client: true, connected: true, vf_up: true,
  socket_id: 0, vhost_features: 0, vf_mtu: 1500, vf_rx_missed: 0, vm_connects: 1, vm_disconnects: 0, buffer_node: 0, cpu: [1, 1],
  vf_to_vm: dir(rx), vm_to_vf: dir(0),
});
const spec = (id: number, ident?: string): RelaySpec => ({
  id, pcis: [`0000:ff:00.${id}`], devices: ['net_null0'], vhostPath: `/run/v${id}.sock`, vhostClient: true, origin: 'add_sock', ...(ident ? { ident } : {}),
});

function harness() {
  const state = { specs: [spec(0, 'acme/a'), spec(1)], relays: [relay(0, 0), relay(1, 0)], generation: 1, plugs: new Map([[0, 1], [1, 1]]), unplugged: new Map<number, string>(), down: false };
  const metrics = new ForwarderMetrics({
    desired: () => state.specs,
    unplugged: (id) => state.unplugged.get(id),
    sample: async (): Promise<StatsReply | undefined> => (state.down ? undefined : { ok: true, tsc: 1, tsc_hz: 1e9, workers: [{ lcore: 1, busy_cycles: 5e8, idle_cycles: 5e8 }], relays: state.relays }),
    generation: () => state.generation,
    plugs: (id) => state.plugs.get(id) ?? 0,
    dpdkRelease: () => 'DPDK 22.11.x',
  });
  const rx = async (id: number) => value(parse(await metrics.scrape()), 'vio4wd_relay_received_packets_total', { relay: String(id), direction: 'vf_to_vm' });
  return { state, metrics, rx };
}

describe('forwarder metrics', () => {
  test('a new dataplane and a re-plug count on top of what was counted; the dataplane away: the last counts stay', async () => {
    const { state, rx } = harness();
    state.relays = [relay(0, 100), relay(1, 10)];
    expect(await rx(0)).toBe(100);
    // The dataplane restarts: its counters start again from 0.
    state.generation = 2;
    state.relays = [relay(0, 5), relay(1, 3)];
    expect(await rx(0)).toBe(105);
    expect(await rx(1)).toBe(13);
    // Relay 1 plugged again in the same dataplane.
    state.plugs.set(1, 2);
    state.relays = [relay(0, 7), relay(1, 1)];
    expect(await rx(0)).toBe(107);
    expect(await rx(1)).toBe(14);
    // No dataplane for a while: the counts do not drop to nothing.
    state.down = true;
    expect(await rx(0)).toBe(107);
    state.down = false;
    state.generation = 3;
    state.relays = [relay(0, 1), relay(1, 1)];
    expect(await rx(0)).toBe(108);
  });

  test('labels; an unplugged relay keeps its counts with plugged 0; a removed one leaves; a relay of a new spec starts from zero', async () => {
    const { state, metrics, rx } = harness();
    state.relays = [relay(0, 50), relay(1, 20)];
    let s = parse(await metrics.scrape());
    expect(s.find((x) => x.name === 'vio4wd_relay_received_packets_total' && x.labels.relay === '0')?.labels)
      .toEqual({ relay: '0', vf: '0000:ff:00.0', vhost_path: '/run/v0.sock', ident: 'acme/a', direction: 'vf_to_vm' });
    expect(value(s, 'vio4wd_worker_busy_seconds_total', { cpu: '1' })).toBe(0.5);
    expect(value(s, 'vio4wd_build_info', { dpdk: 'DPDK 22.11.x' })).toBe(1);
    state.unplugged.set(1, 'VF gone');
    state.relays = [relay(0, 50)];
    s = parse(await metrics.scrape());
    expect(value(s, 'vio4wd_relay_plugged', { relay: '1' })).toBe(0);
    expect(value(s, 'vio4wd_relay_received_packets_total', { relay: '1', direction: 'vf_to_vm' })).toBe(20);
    expect(value(s, 'vio4wd_relays', { state: 'unplugged' })).toBe(1);
    state.specs = [spec(0, 'acme/a')];
    s = parse(await metrics.scrape());
    expect(s.filter((x) => x.labels.relay === '1')).toEqual([]);
    // Relay 0 replaced by a relay on another socket: a new series, from its own counts.
    state.specs = [{ ...spec(0), vhostPath: '/run/other.sock' }];
    state.plugs.set(0, 2);
    state.relays = [{ ...relay(0, 4), vhost_path: '/run/other.sock' }];
    expect(await rx(0)).toBe(4);
  });

  test('requests by endpoint, operation and result, with their latency', async () => {
    const { metrics } = harness();
    metrics.observeRequest('port_control', { op: 'add_sock', result: 'ok' }, 0.002);
    metrics.observeRequest('port_control', { op: 'add_sock', result: 'EINVAL' }, 0.0001);
    const s = parse(await metrics.scrape());
    expect(value(s, 'vio4wd_requests_total', { endpoint: 'port_control', op: 'add_sock', result: 'EINVAL' })).toBe(1);
    expect(value(s, 'vio4wd_request_duration_seconds_count', { endpoint: 'port_control', op: 'add_sock' })).toBe(2);
    expect(value(s, 'vio4wd_request_duration_seconds_bucket', { endpoint: 'port_control', op: 'add_sock', le: '0.001' })).toBe(1);
  });
});

describe('the supervisor keeps off the worker CPUs', () => {
  test('the CPUs allowed but the workers\' (VIO4WD_WORKER_CPUS when set); none left, or nothing to leave: no change', () => {
    expect(allowedCpus('Name:\tnode\nCpus_allowed_list:\t0-3,6\n')).toEqual([0, 1, 2, 3, 6]);
    expect(supervisorCpus({ cpuMask: [1, 2], workerCpus: [] }, [0, 1, 2, 3])).toEqual([0, 3]);
    expect(supervisorCpus({ cpuMask: [1, 2, 3], workerCpus: [1] }, [0, 1])).toEqual([0]);
    expect(supervisorCpus({ cpuMask: [0, 1], workerCpus: [] }, [0, 1])).toBeUndefined();
    expect(supervisorCpus({ cpuMask: [5], workerCpus: [] }, [0, 1])).toBeUndefined();
  });
});
