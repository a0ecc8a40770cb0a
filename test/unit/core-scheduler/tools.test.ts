// What vio4wd-load and vio4wd-pinner print, from two stats replies.
import { describe, expect, test } from '@jest/globals';
import { bar, cpuMap, formatView, loadLines, parsePin } from '@vio4wd/core-scheduler';
import type { StatsResponse } from '@vio4wd/common';

const dir = { active: true, internal_state: 'connected', pkts_rx_from_vf: 0, bytes_rx_from_vf: 0, pkts_tx_to_vm: 0, bytes_tx_to_vm: 0, pkts_dropped_vm_queue_full: 0, bytes_dropped_vm_queue_full: 0, pkts_dropped_vm_not_connected: 0, bytes_dropped_vm_not_connected: 0, pkt_rate_rx_from_vf: 0, byte_rate_rx_from_vf: 0, pkt_rate_tx_to_vm: 0, byte_rate_tx_to_vm: 0 };
const back = { active: true, internal_state: 'connected', pkts_rx_from_vm: 0, bytes_rx_from_vm: 0, pkts_tx_to_vf: 0, bytes_tx_to_vf: 0, pkts_dropped_vf_queue_full: 0, bytes_dropped_vf_queue_full: 0, pkts_dropped_vf_not_connected: 0, bytes_dropped_vf_not_connected: 0, pkt_rate_rx_from_vm: 0, byte_rate_rx_from_vm: 0, pkt_rate_tx_to_vf: 0, byte_rate_tx_to_vf: 0 };
const relay = (id: number, vf2vm: number, vm2vf: number) => ({ id, active: true, socket_id: 0, vhost: { vhost_socket_name: `/v${id}` }, cpu: { vf_to_vm: vf2vm, vm_to_vf: vm2vf }, vf_to_vm: dir, vm_to_vf: back });
/** Cumulative counters at time t (cycles): busy1 and busy2 of them busy. */
const rep = (busy1: number, busy2: number, t = 1000): StatsResponse => ({
  status: 0, tsc_hz: 1e9,
  worker: [{ cpu: 1, busy_cycles: busy1, idle_cycles: t - busy1 }, { cpu: 2, busy_cycles: busy2, idle_cycles: t - busy2 }],
  relay: [relay(0, 1, 2), relay(3, 1, 1), { ...relay(7, -1, -1), cpu: { vf_to_vm: -1, vm_to_vf: -1 } }],
});

describe('vio4wd-load and vio4wd-pinner output', () => {
  test('a bar per worker with its load over the interval and the relays on it; unplugged relays on none', () => {
    expect(loadLines(rep(0, 0, 0), rep(750, 100, 1000))).toEqual([
      `CPU   1 [${'#'.repeat(30)}${'.'.repeat(10)}]  75%  VM->VF 3  VF->VM 0,3`,
      `CPU   2 [${'#'.repeat(4)}${'.'.repeat(36)}]  10%  VM->VF 0  VF->VM -`,
    ]);
    expect(bar(1.7, 4)).toBe('[####]');
    expect(bar(-1, 4)).toBe('[....]');
  });

  test('a forwarder that restarted between the samples shows no load rather than a wrong one', () => {
    expect(loadLines(rep(900, 900, 5000), rep(10, 10, 100))[0]).toBe(`CPU   1 [${'?'.repeat(40)}]    ?  VM->VF 3  VF->VM 0,3`);
  });

  test('the pinner\'s map and its pins, in the configuration file\'s order (VF->VM first)', () => {
    expect(cpuMap(rep(0, 0)).map((v) => `CPU ${v.cpu}: ${formatView(v)}`)).toEqual(['CPU 1: VM->VF 3  VF->VM 0,3', 'CPU 2: VM->VF 0  VF->VM -']);
    expect(parsePin('4:1,2')).toEqual({ relay_number: 4, vf2virtio_cpu: 1, virtio2vf_cpu: 2 });
    expect(parsePin('4:3')).toEqual({ relay_number: 4, vf2virtio_cpu: 3, virtio2vf_cpu: 3 });
    expect(() => parsePin('4:')).toThrow(/expected RN:Ci\[,Cj\]/);
  });
});
