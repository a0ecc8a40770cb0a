// vio4wd watched by a real Prometheus (Debian's, run as a process with a
// generated configuration): it scrapes the forwarder's and the core
// scheduler's endpoints every second while a testpmd floods a relay, and
// its HTTP API must see what the generator sent, drops when the VM stops
// reading, the relay's identity, counters that rise across a kill -9 of the
// dataplane; the shipped alert rules load, pass promtool, and fire.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { z } from 'zod';
import { ROOT } from '../lib/forwarder.js';
import { prometheusBin, promtool } from '../lib/prometheus.js';
import { Topology, VF_PCI } from '../lib/topology.js';
import { cleanupsAfterEach } from '../lib/fixtures.js';

jest.setTimeout(240000);

const RULES = path.join(ROOT, 'deploy/prometheus/vio4wd.rules.yml');
const SCHED_BIN = path.join(ROOT, 'packages/core-scheduler/dist/bin.js');
const IDENT = 'acme/vm-7';

const cleanups = cleanupsAfterEach();
let topo: Topology | undefined;
afterEach(async () => {
  await topo?.cleanUp();
  topo = undefined;
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

const vectorSchema = z.object({
  status: z.literal('success'),
  data: z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: z.tuple([z.number(), z.string()]) })) }),
});

class PrometheusServer {
  constructor(readonly url: string) {}

  /** An instant query (at: epoch seconds), as [labels, value] pairs. */
  async query(q: string, at?: number): Promise<{ metric: Record<string, string>; value: number }[]> {
    const u = new URL('/api/v1/query', this.url);
    u.searchParams.set('query', q);
    if (at !== undefined) u.searchParams.set('time', at.toFixed(3));
    const r = await fetch(u);
    const body: unknown = await r.json();
    const parsed = vectorSchema.safeParse(body);
    if (!parsed.success) throw new Error(`query ${q}: ${JSON.stringify(body)}`);
    return parsed.data.data.result.map((x) => ({ metric: x.metric, value: Number(x.value[1]) }));
  }

  async one(q: string, at?: number): Promise<number> {
    const r = await this.query(q, at);
    if (r.length !== 1) throw new Error(`query ${q}: ${r.length} results, not one: ${JSON.stringify(r)}`);
    return r[0]?.value ?? NaN;
  }

  async api(p: string): Promise<unknown> {
    return (await fetch(new URL(p, this.url))).json();
  }

  /** Waits until the query has exactly one result that passes. */
  async until(q: string, ok: (v: number) => boolean, what: string, timeoutMs = 30000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no result';
    for (;;) {
      const r = await this.query(q);
      if (r.length === 1 && ok(r[0]?.value ?? NaN)) return r[0]?.value ?? NaN;
      last = JSON.stringify(r);
      if (Date.now() > deadline) throw new Error(`${what}: ${q} -> ${last} after ${timeoutMs} ms`);
      await sleep(500);
    }
  }
}

describe('Prometheus', () => {
  test('the shipped alert rules: promtool check rules, and promtool test rules (test/prometheus/vio4wd.rules.test.yml)', async () => {
    const check = await promtool(['check', 'rules', RULES]);
    expect(check.exitCode).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 7 rules found/);
    const t = await promtool(['test', 'rules', 'test/prometheus/vio4wd.rules.test.yml']);
    console.log(`${check.stdout.trim()}\n${t.stdout.trim()}`);
    expect({ code: t.exitCode, out: t.stdout.trim() }).toEqual({ code: 0, out: 'Unit Testing:  test/prometheus/vio4wd.rules.test.yml\n  SUCCESS' });
  });

  test('a real Prometheus scraping both endpoints every second sees the generator\'s rate, drops, the identity, and counters rising across a kill -9', async () => {
    topo = new Topology('prom', { vhostClient: false, vfRingLog2: 14 });
    const fwd = topo.fwd;
    const dir = fwd.dir;
    // TCP endpoints (Prometheus scrapes HTTP only), on free ports; core scheduling on endpoints of this test's own.
    fs.appendFileSync(fwd.configPath, [
      'VIO4WD_METRICS_EP=http://127.0.0.1:0/metrics',
      'VIO4WD_CORE_SCHED_METRICS_EP=http://127.0.0.1:0/metrics',
      'VIO4WD_CORE_SCHED_ENABLE=true',
      `VIRTIOFWD_ZMQ_CORE_SCHED_EP=ipc://${dir}/core_sched`,
      '',
    ].join('\n'));
    await fwd.start();
    const fwdUrl = /metrics endpoint serving on (http:\S+)/.exec(fwd.log)?.[1] ?? '';
    expect(fwdUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const sched = execa('node', [SCHED_BIN, '--config', fwd.configPath, '--poll-interval', '1'], { reject: false, buffer: false, stdout: 'pipe', stderr: 'pipe' });
    let schedLog = '';
    sched.stdout.on('data', (d: Buffer) => (schedLog += d.toString()));
    sched.stderr.on('data', (d: Buffer) => (schedLog += d.toString()));
    cleanups.push(async () => {
      sched.kill('SIGTERM');
      await sched;
    });
    for (let i = 0; i < 200 && !/metrics endpoint serving on http/.test(schedLog); i++) await sleep(50);
    const schedUrl = /metrics endpoint serving on (http:\S+)/.exec(schedLog)?.[1] ?? '';
    expect(schedUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const port = await freePort();
    const target = (u: string) => new URL(u).host;
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms }',
      `rule_files: [ "${RULES}" ]`,
      'scrape_configs:',
      `  - { job_name: virtio-forwarder, static_configs: [ { targets: [ "${target(fwdUrl)}" ] } ] }`,
      `  - { job_name: vio4wd_core_scheduler, static_configs: [ { targets: [ "${target(schedUrl)}" ] } ] }`,
      '',
    ].join('\n'));
    const prom = execa(prometheusBin(), [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/tsdb`, `--web.listen-address=127.0.0.1:${port}`],
      { reject: false, buffer: false, stdout: 'ignore', stderr: 'pipe' });
    let promLog = '';
    prom.stderr.on('data', (d: Buffer) => (promLog += d.toString()));
    cleanups.push(async () => {
      prom.kill('SIGTERM');
      await prom;
    });
    const p = new PrometheusServer(`http://127.0.0.1:${port}`);
    for (let i = 0; i < 200 && !/Server is ready to receive web requests/.test(promLog); i++) await sleep(100);
    expect(promLog).toMatch(/Server is ready to receive web requests/);

    // A relay with an identity, a VM reading (rxonly), and the VF's far end flooding it.
    const vf = await topo.startVfPeer();
    expect((await fwd.portctl('add_sock', `--vhost-path=${topo.vhost}`, `--pci-addr=${VF_PCI}`, `--ident=${IDENT}`)).exitCode).toBe(0);
    for (let i = 0; i < 100 && !(await topo.dataplaneRelay()).vf_up; i++) await sleep(50);
    const vm = await topo.startVm();
    await fwd.waitConnected(0);
    await vm.cmd('start');
    await p.until('up{job="virtio-forwarder"}', (v) => v === 1, 'forwarder scraped');
    await p.until('up{job="vio4wd_core_scheduler"}', (v) => v === 1, 'core scheduler scraped');
    await vf.cmd('set fwd txonly');
    await vf.cmd('start');
    await sleep(12000);

    // The generator's own count over 10 s, against Prometheus's rate() of the relay's counter over the same 10 s.
    const a = await vf.counters();
    const ta = Date.now();
    await sleep(10000);
    const b = await vf.counters();
    const tb = Date.now();
    const generated = (b.txPackets - a.txPackets) / ((tb - ta) / 1000);
    await sleep(2500); // the scrape after tb is in
    const received = `vio4wd_relay_received_packets_total{job="virtio-forwarder",direction="vf_to_vm",ident="${IDENT}"}`;
    const rate = await p.one(`rate(${received}[10s])`, tb / 1000);
    const ratio = rate / generated;
    console.log(`generator ${generated.toFixed(0)} pps over ${(tb - ta) / 1000} s; Prometheus rate(${received}[10s]) at its end: ${rate.toFixed(0)} pps; ratio ${ratio.toFixed(3)}`);
    expect(generated).toBeGreaterThan(1000);
    // Within 20%: rate() extrapolates a 10 s window of 1 s scrapes to its edges, and on this 2-CPU host
    // a scrape or the test's own reads of the generator come late under load (CI saw 0.847 once, with
    // the generator at 36 kpps; 0.99-1.00 otherwise). Counting twice or not at all is far outside.
    expect(Math.abs(ratio - 1)).toBeLessThan(0.2);

    // The identity is on the series, with the relay's other labels.
    const series = await p.query(`vio4wd_relay_received_packets_total{ident="${IDENT}"}`);
    expect(series.map((s) => s.metric.direction).sort()).toEqual(['vf_to_vm', 'vm_to_vf']);
    expect(series[0]?.metric).toMatchObject({ relay: '0', vf: VF_PCI, vhost_path: topo.vhost, job: 'virtio-forwarder' });

    // The VM stops reading: its drops rise.
    const dropped = `vio4wd_relay_dropped_packets_total{job="virtio-forwarder",direction="vf_to_vm",reason="queue_full"}`;
    const dropsBefore = await p.one(dropped);
    await vm.cmd('stop');
    const dropRate = await p.until(`rate(${dropped}[5s])`, (v) => v > 1000, 'drops while the VM does not read');
    console.log(`VM stopped reading: queue_full drops ${dropsBefore} -> rate ${dropRate.toFixed(0)} pps`);
    await vm.cmd('start');

    // kill -9 of the dataplane: the counter has no reset in Prometheus's eyes, and goes on rising.
    // The VF's testpmd pauses its flood meanwhile: DPDK 22.11's memif PMD unmaps its rings when the
    // peer goes while its own forwarding lcore may be inside a burst on them, and testpmd then dies
    // of SIGSEGV (seen in 2 of 3 runs; the relay's side of that bug is in README).
    await vf.cmd('stop');
    const beforeKill = await p.one(received);
    const tKill = Date.now() / 1000;
    process.kill(fwd.dataplanePid, 'SIGKILL');
    for (let i = 0; i < 300 && !/dataplane restarted: 1\/1/.test(fwd.log); i++) await sleep(100);
    expect(fwd.log).toMatch(/dataplane restarted: 1\/1/);
    await vf.cmd('start');
    await p.until('vio4wd_dataplane_restarts_total', (v) => v === 1, 'restart counted');
    const afterKill = await p.until(received, (v) => v > beforeKill + 1000, 'the relay counting again after the restart');
    await sleep(2000);
    const resets = await p.one(`resets(${received}[${Math.ceil(Date.now() / 1000 - tKill) + 20}s])`);
    console.log(`kill -9 of the dataplane: ${received} ${beforeKill} -> ${afterKill}, resets() over the restart: ${resets}`);
    expect(resets).toBe(0);

    // The core scheduler's endpoint, and the shipped rules: loaded, healthy, and the restart alert firing.
    expect(await p.one('vio4wd_core_sched_polls_total{job="vio4wd_core_scheduler",result="ok"}')).toBeGreaterThan(5);
    expect(await p.one('vio4wd_core_sched_forwarder_reachable{job="vio4wd_core_scheduler"}')).toBe(1);
    const rules = z.object({ data: z.object({ groups: z.array(z.object({ name: z.string(), rules: z.array(z.object({ name: z.string(), health: z.string() })) })) }) })
      .parse(await p.api('/api/v1/rules'));
    const group = rules.data.groups.find((g) => g.name === 'vio4wd');
    expect(group?.rules.map((r) => r.health)).toEqual(Array(7).fill('ok'));
    const alerts = z.object({ data: z.object({ alerts: z.array(z.object({ labels: z.record(z.string(), z.string()), state: z.string() })) }) });
    let firing: string[] = [];
    for (let i = 0; i < 30 && !firing.includes('VIO4WDDataplaneRestarting'); i++) {
      firing = alerts.parse(await p.api('/api/v1/alerts')).data.alerts.filter((x) => x.state === 'firing').map((x) => x.labels.alertname ?? '');
      await sleep(500);
    }
    console.log(`alerts firing: ${firing.join(', ')}`);
    expect(firing).toContain('VIO4WDDataplaneRestarting');
    await vf.cmd('stop');
  });
});
