// The supervisor's metrics endpoint, scraped as Prometheus would: every
// family there, the counts exactly what the peers sent and received, drops
// by reason, the relay's identity as a label, counters carried across a
// kill -9 of the dataplane, a removed relay gone from the scrape.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { FORWARDER_BIN, Forwarder } from '../lib/forwarder.js';
import { get, parse, pick, scrape, value, type Sample } from '../lib/metrics.js';
import { Topology, VF_PCI } from '../lib/topology.js';

jest.setTimeout(180000);

let topo: Topology | undefined;
afterEach(async () => {
  await topo?.cleanUp();
  topo = undefined;
});

const IDENT = 'acme/vm-42';

/** The relay's series of a family, by direction (and reason). */
const of = (s: Sample[], name: string, labels: Record<string, string> = {}) => value(s, name, { relay: '0', ...labels });

async function settled(read: () => Promise<number>, want: number, what: string): Promise<void> {
  let got = await read();
  for (let i = 0; i < 100 && got < want; i++) {
    await sleep(100);
    got = await read();
  }
  expect({ what, got }).toEqual({ what, got: want });
}

/** Every counter of the scrape, by series. */
function counters(s: Sample[]): Map<string, number> {
  return new Map(s.filter((x) => x.name.startsWith('vio4wd_') && x.name.endsWith('_total')).map((x) => [`${x.name}${JSON.stringify(x.labels)}`, x.value]));
}

describe('metrics endpoint (VIO4WD_METRICS_EP)', () => {
  test('exact counts by direction and reason, the relay\'s labels, carried across a kill -9 of the dataplane; a removed relay is no longer exported', async () => {
    topo = new Topology('met', { vhostClient: false, vfRingLog2: 14 });
    const fwd = topo.fwd;
    await fwd.start();
    const vf = await topo.startVfPeer();
    const add = await fwd.portctl('add_sock', `--vhost-path=${topo.vhost}`, `--pci-addr=${VF_PCI}`, `--ident=${IDENT}`);
    expect(add.exitCode).toBe(0);
    for (let i = 0; i < 100 && !(await topo.dataplaneRelay()).vf_up; i++) await sleep(50);
    const ep = fwd.metricsEp;
    // The supervisor (and so its scrapes) keeps off the worker CPU (VIRTIOFWD_CPU_MASK=1).
    expect(fwd.log).toMatch(/supervisor on CPU\(s\) 0, off the worker CPUs/);
    const labels = { relay: '0', vf: VF_PCI, vhost_path: topo.vhost, ident: IDENT };

    // No VM: two bursts from the VF have nowhere to go.
    await vf.sendBursts(2);
    await vf.cmd('stop');
    await settled(async () => of(await scrape(ep), 'vio4wd_relay_dropped_packets_total', { direction: 'vf_to_vm', reason: 'not_connected' }) ?? 0, 64, 'not connected');
    let s = await scrape(ep);
    expect(pick(s, 'vio4wd_relay_received_packets_total', { direction: 'vf_to_vm' })).toEqual([{ name: 'vio4wd_relay_received_packets_total', labels: { ...labels, direction: 'vf_to_vm' }, value: 64 }]);
    expect(of(s, 'vio4wd_relay_dropped_bytes_total', { direction: 'vf_to_vm', reason: 'not_connected' })).toBe(64 * 64);
    expect(of(s, 'vio4wd_relay_vm_connected')).toBe(0);
    expect(of(s, 'vio4wd_relay_plugged')).toBe(1);
    expect(of(s, 'vio4wd_relay_vf_link_up')).toBe(1);
    expect(value(s, 'vio4wd_relays', { state: 'plugged' })).toBe(1);
    expect(value(s, 'vio4wd_relays', { state: 'unplugged' })).toBe(0);
    expect(value(s, 'vio4wd_dataplane_up')).toBe(1);
    expect(value(s, 'vio4wd_requests_total', { endpoint: 'port_control', op: 'add_sock', result: 'ok' })).toBe(1);
    expect(value(s, 'vio4wd_request_duration_seconds_count', { endpoint: 'port_control', op: 'add_sock' })).toBe(1);
    const build = pick(s, 'vio4wd_build_info');
    expect(build).toHaveLength(1);
    expect(build[0]?.labels.dpdk).toMatch(/^DPDK 22\.11/);

    // A VM: 4 bursts from it to the VF (whose peer is not reading: its ring takes them), then 5 from the VF to it.
    const vm = await topo.startVm();
    await fwd.waitConnected(0);
    await vm.sendBursts(4);
    expect((await vm.waitCounters((c) => c.txPackets >= 128)).txPackets).toBe(128);
    await settled(async () => of(await scrape(ep), 'vio4wd_relay_sent_packets_total', { direction: 'vm_to_vf' }) ?? 0, 128, 'VM to VF');
    await vf.sendBursts(5);
    await vm.waitCounters((c) => c.rxPackets >= 160);
    await settled(async () => of(await scrape(ep), 'vio4wd_relay_sent_packets_total', { direction: 'vf_to_vm' }) ?? 0, 160, 'VF to VM');
    await vf.cmd('stop');
    s = await scrape(ep);
    const want: [string, Record<string, string>, number][] = [
      ['vio4wd_relay_received_packets_total', { direction: 'vf_to_vm' }, 224],
      ['vio4wd_relay_received_bytes_total', { direction: 'vf_to_vm' }, 224 * 64],
      ['vio4wd_relay_sent_packets_total', { direction: 'vf_to_vm' }, 160],
      ['vio4wd_relay_sent_bytes_total', { direction: 'vf_to_vm' }, 160 * 64],
      ['vio4wd_relay_received_packets_total', { direction: 'vm_to_vf' }, 128],
      ['vio4wd_relay_sent_packets_total', { direction: 'vm_to_vf' }, 128],
      ['vio4wd_relay_sent_bytes_total', { direction: 'vm_to_vf' }, 128 * 64],
      ['vio4wd_relay_dropped_packets_total', { direction: 'vf_to_vm', reason: 'queue_full' }, 0],
      ['vio4wd_relay_dropped_packets_total', { direction: 'vf_to_vm', reason: 'vf_ring_full' }, 0],
      ['vio4wd_relay_dropped_packets_total', { direction: 'vm_to_vf', reason: 'not_connected' }, 0],
      ['vio4wd_relay_vm_connects_total', {}, 1],
      ['vio4wd_relay_vm_disconnects_total', {}, 0],
      ['vio4wd_relay_vm_connected', {}, 1],
    ];
    for (const [name, l, n] of want) expect({ name, l, got: of(s, name, l) }).toEqual({ name, l, got: n });
    expect((await vm.counters()).rxPackets).toBe(160);
    expect(of(s, 'vio4wd_relay_busy_seconds_total', { direction: 'vf_to_vm' })).toBeGreaterThan(0);
    expect(of(s, 'vio4wd_relay_cpu', { direction: 'vf_to_vm' })).toBe(1);
    expect(of(s, 'vio4wd_relay_vf_mtu_bytes')).toBeGreaterThan(0);
    expect(of(s, 'vio4wd_relay_buffer_numa_node')).toBeGreaterThanOrEqual(0);
    expect(value(s, 'vio4wd_worker_directions', { cpu: '1' })).toBe(2);
    expect(value(s, 'vio4wd_worker_busy_seconds_total', { cpu: '1' })).toBeGreaterThan(0);
    expect(value(s, 'vio4wd_worker_idle_seconds_total', { cpu: '1' })).toBeGreaterThan(0);
    // What the stats endpoint says, the scrape says.
    const r = await topo.relay();
    expect(r.ident).toBe(IDENT);
    expect(of(s, 'vio4wd_relay_received_packets_total', { direction: 'vf_to_vm' })).toBe(r.vf_to_vm.pkts_rx_from_vf);

    // The VM stops reading: its ring fills, and the rest is dropped as queue_full.
    await vm.cmd('stop');
    await vf.sendBursts(100);
    expect((await vf.waitCounters((c) => c.txPackets >= 64 + 160 + 3200)).txPackets).toBe(64 + 160 + 3200);
    await settled(async () => of(await scrape(ep), 'vio4wd_relay_received_packets_total', { direction: 'vf_to_vm' }) ?? 0, 224 + 3200, 'VF to a VM not reading');
    s = await scrape(ep);
    const full = of(s, 'vio4wd_relay_dropped_packets_total', { direction: 'vf_to_vm', reason: 'queue_full' }) ?? 0;
    expect(full).toBeGreaterThan(0);
    expect((of(s, 'vio4wd_relay_sent_packets_total', { direction: 'vf_to_vm' }) ?? 0) + full).toBe(160 + 3200);
    await vf.cmd('stop');

    // kill -9 of the dataplane: the supervisor restarts it, and no counter goes backwards.
    const before = counters(s);
    const pid = fwd.dataplanePid;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 300 && !/dataplane restarted: 1\/1 relay\(s\) restored/.test(fwd.log); i++) await sleep(100);
    expect(fwd.log).toMatch(/dataplane restarted: 1\/1 relay\(s\) restored/);
    for (let i = 0; i < 100 && !(await topo.dataplaneRelay()).vf_up; i++) await sleep(50);
    s = await scrape(ep);
    expect(value(s, 'vio4wd_dataplane_restarts_total')).toBe(1);
    expect(value(s, 'vio4wd_relays_restored_total')).toBe(1);
    const after = counters(s);
    const backwards = [...before].filter(([k, v]) => (after.get(k) ?? -1) < v);
    expect(backwards).toEqual([]);
    // The new dataplane counts on top: 2 more bursts from the VF (delivered or, the VM gone with the old one, not connected).
    await vf.sendBursts(2);
    await settled(async () => of(await scrape(ep), 'vio4wd_relay_received_packets_total', { direction: 'vf_to_vm' }) ?? 0, 224 + 3200 + 64, 'after the restart');
    s = await scrape(ep);
    const delivered = (x: Sample[]) => (of(x, 'vio4wd_relay_sent_packets_total', { direction: 'vf_to_vm' }) ?? 0) +
      (of(x, 'vio4wd_relay_dropped_packets_total', { direction: 'vf_to_vm' }) ?? 0);
    expect(delivered(s)).toBe(64 + 160 + 3200 + 64);
    expect(pick(s, 'vio4wd_relay_received_packets_total', { direction: 'vf_to_vm' })[0]?.labels).toEqual({ ...labels, direction: 'vf_to_vm' });

    // A refused request is counted with its errno; a removed relay leaves the scrape.
    expect((await fwd.portctl('add_sock', `--vhost-path=${topo.vhost}`, '--pci-addr=0000:ff:00.7')).exitCode).not.toBe(0);
    expect((await fwd.portctl('remove_sock', `--vhost-path=${topo.vhost}`)).exitCode).toBe(0);
    s = await scrape(ep);
    expect(s.filter((x) => x.name.startsWith('vio4wd_relay_'))).toEqual([]);
    expect(value(s, 'vio4wd_relays', { state: 'plugged' })).toBe(0);
    expect(value(s, 'vio4wd_requests_total', { endpoint: 'port_control', op: 'remove_sock', result: 'ok' })).toBe(1);
    const refused = pick(s, 'vio4wd_requests_total', { endpoint: 'port_control', op: 'add_sock' }).filter((x) => x.labels.result !== 'ok');
    expect(refused.map((x) => x.value)).toEqual([1]);
    expect(refused[0]?.labels.result).toMatch(/^E[A-Z]+$/);
    console.log(`scrape after the restart (relay 0 removed): ${s.length} samples; refused add_sock counted as ${refused[0]?.labels.result}`);

    // HTTP: only GET and HEAD, only the metrics path.
    expect((await get(ep, '/other')).status).toBe(404);
    expect((await get(ep, '/metrics', 'POST')).status).toBe(405);
    const head = await get(ep, '/metrics', 'HEAD');
    expect([head.status, head.text, head.contentType]).toEqual([200, '', 'text/plain; version=0.0.4; charset=utf-8']);
  });

  test('on a TCP port (0: a free one, which the log names); a bad value or a port taken stops the start, naming the variable', async () => {
    const dir = Forwarder.scratch('mtcp');
    const fwd = Forwarder.write(dir, { vhostClient: true, extra: ['VIO4WD_METRICS_EP=http://127.0.0.1:0/m'] });
    try {
      await fwd.start();
      const m = /metrics endpoint serving on (http:\/\/127\.0\.0\.1:(\d+)\/m)/.exec(fwd.log);
      expect(m).not.toBeNull();
      const url = m?.[1] ?? '';
      const s = parse((await get(url)).text);
      expect(value(s, 'vio4wd_dataplane_up')).toBe(1);
      expect(value(s, 'vio4wd_relays', { state: 'plugged' })).toBe(0);
      expect(value(s, 'process_cpu_seconds_total')).toBeGreaterThan(0);

      // Another forwarder asked for the same port: it stops, saying which variable to change.
      const dir2 = Forwarder.scratch('mtcp2');
      const taken = Forwarder.write(dir2, { vhostClient: true, extra: [`VIO4WD_METRICS_EP=http://127.0.0.1:${m?.[2] ?? ''}/metrics`] });
      const r = await execa('node', [FORWARDER_BIN, '--config', taken.configPath], { reject: false, timeout: 60000 });
      expect(r.exitCode).toBe(1);
      expect(r.stdout + r.stderr).toMatch(new RegExp(`metrics endpoint http://127\\.0\\.0\\.1:${m?.[2] ?? ''}/metrics: listen EADDRINUSE.*\\(VIO4WD_METRICS_EP: choose another address, or off\\)`));
      fs.rmSync(dir2, { recursive: true, force: true });

      fs.mkdirSync(dir2 + 'b', { recursive: true });
      const bad = Forwarder.write(dir2 + 'b', { vhostClient: true, extra: ['VIO4WD_METRICS_EP=127.0.0.1:9'] });
      const b = await execa('node', [FORWARDER_BIN, '--config', bad.configPath], { reject: false, timeout: 60000 });
      expect(b.exitCode).toBe(78);
      expect(b.stdout + b.stderr).toMatch(/VIO4WD_METRICS_EP: '127\.0\.0\.1:9' is not off, an http:\/\/ URL with a port, nor a unix socket; allowed: /);
      fs.rmSync(dir2 + 'b', { recursive: true, force: true });
    } finally {
      await fwd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
