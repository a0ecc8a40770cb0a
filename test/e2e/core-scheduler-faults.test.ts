// vio4wd_core_scheduler against a forwarder that is absent, answers
// garbage, does not report load, or does not serve core scheduling: each is
// logged once, it keeps polling at its interval (no spinning), and it comes
// through to balancing when the forwarder does. The "forwarder" here is
// ZeroMQ REP sockets in the test, answering what each step needs; its
// bad command lines exit 2 naming the flag or the variable.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import * as zmq from 'zeromq';
import { CoreSchedStatus, StatsStatus, wire } from '@vio4wd/common';
import { Forwarder, ROOT } from '../lib/forwarder.js';
import { cleanupsAfterEach } from '../lib/fixtures.js';
import { get, scrape, value } from '../lib/metrics.js';
import { promtool } from '../lib/prometheus.js';

jest.setTimeout(120000);

const SCHED_BIN = path.join(ROOT, 'packages/core-scheduler/dist/bin.js');
const PINNER_BIN = path.join(ROOT, 'packages/core-scheduler/dist/pinner-bin.js');
const LOAD_BIN = path.join(ROOT, 'packages/core-scheduler/dist/load-bin.js');

const cleanups = cleanupsAfterEach();

/** A REP socket answering every request with what answer() gives now. */
function fakeEndpoint(address: string, answer: () => Buffer): { close: () => void; requests: () => number } {
  const sock = new zmq.Reply({ linger: 0 });
  let n = 0;
  void (async () => {
    await sock.bind(address);
    for await (const [_frame] of sock) {
      n++;
      await sock.send(answer());
    }
  })().catch(() => undefined);
  return { close: () => sock.close(), requests: () => n };
}

/** CPU seconds a process has used (utime + stime). */
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
}

describe('vio4wd_core_scheduler rides out a misbehaving forwarder', () => {
  test('absent, garbage, no load fields, core scheduling off: each said once, then balancing; it never spins and exits 0 on SIGTERM', async () => {
    const dir = Forwarder.scratch('schf');
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const statsEp = `ipc://${dir}/stats`;
    const schedEp = `ipc://${dir}/core_sched`;
    const proc = execa('node', [SCHED_BIN, '--config', '/nonexistent-is-refused', '--stats-ep', statsEp, '--sched-ep', schedEp], { reject: false });
    expect((await proc).exitCode).toBe(78);
    expect((await proc).stderr).toMatch(/--config \/nonexistent-is-refused: ENOENT/);

    const metricsEp = `unix:${dir}/m.sock`;
    fs.writeFileSync(`${dir}/cfg`, `VIO4WD_CORE_SCHED_POLL_INTERVAL=0.2\nVIO4WD_CORE_SCHED_METRICS_EP=${metricsEp}\n`);
    const sched = execa('node', [SCHED_BIN, '--config', `${dir}/cfg`, '--stats-ep', statsEp, '--sched-ep', schedEp, '--timeout', '300', '--loglevel', '7'],
      { reject: false, buffer: false, stdout: 'pipe', stderr: 'pipe' });
    let out = '';
    sched.stdout.on('data', (d: Buffer) => (out += d.toString()));
    sched.stderr.on('data', (d: Buffer) => (out += d.toString()));
    cleanups.push(async () => {
      sched.kill('SIGKILL');
      await sched;
    });
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 300 && !re.test(out); i++) await sleep(50);
      expect(out).toMatch(re);
    };

    // 1. Nobody there.
    await waitFor(/<4>vio4wd_core_scheduler: stats endpoint .*: no reply from .* within 300 ms \(is virtio-forwarder running\?\); retrying every 0.2 s/);
    const before = cpuSeconds(sched.pid as number);
    await sleep(3000);
    const used = cpuSeconds(sched.pid as number) - before;
    // 3 s of waiting: about 6 polls, each a 300 ms timeout; no busy loop.
    expect(used).toBeLessThan(0.5);
    expect(out.match(/no reply from/g)).toHaveLength(1);
    // Its metrics say so: the forwarder unreachable, each poll counted with why.
    const down = await scrape(metricsEp);
    expect(value(down, 'vio4wd_core_sched_forwarder_reachable')).toBe(0);
    expect(value(down, 'vio4wd_core_sched_polls_total', { result: 'stats' })).toBeGreaterThanOrEqual(4);
    expect(value(down, 'vio4wd_core_sched_polls_total', { result: 'ok' })).toBeUndefined();

    // 2. Garbage.
    let statsReply: () => Buffer = () => Buffer.from('\xff\xff\xff garbage', 'latin1');
    const stats = fakeEndpoint(statsEp, () => statsReply());
    cleanups.push(async () => stats.close());
    await waitFor(/<4>.*stats endpoint .* answered something that is not a stats reply: StatsResponse: /);

    // 3. A stats reply of a forwarder that reports no worker load (the original's).
    statsReply = () => wire.StatsResponse.encode({ status: StatsStatus.OK, relay: [], worker: [] });
    await waitFor(/<4>.*this forwarder cannot be balanced on measured load/);

    // 4. Load reported, core scheduling not served.
    let busy = 1e6;
    // A worker busy a quarter of the time.
    statsReply = () => wire.StatsResponse.encode({ status: StatsStatus.OK, relay: [], tsc_hz: 1e9, worker: [{ cpu: 1, busy_cycles: (busy += 1e6), idle_cycles: busy * 3, numa_node: 0 }] });
    await waitFor(/<4>.*core scheduling endpoint .*: no reply .*set VIO4WD_CORE_SCHED_ENABLE=true in its configuration and restart virtio-forwarder/);

    // 5. All there: balancing (nothing to move: no relays).
    const sch = fakeEndpoint(schedEp, () => wire.CoreSchedResponse.encode({ status: CoreSchedStatus.OK, eal_cores: [1] }));
    cleanups.push(async () => sch.close());
    await waitFor(/<5>vio4wd_core_scheduler: balancing worker CPUs 1 of /);
    await waitFor(/<7>.*NUMA 0: busiest CPU 1 at 25%: no worker overloaded/);
    const up = await scrape(metricsEp);
    expect(value(up, 'vio4wd_core_sched_forwarder_reachable')).toBe(1);
    expect(value(up, 'vio4wd_core_sched_polls_total', { result: 'ok' })).toBeGreaterThanOrEqual(1);
    for (const result of ['stats_garbage', 'unsupported', 'sched']) expect(value(up, 'vio4wd_core_sched_polls_total', { result })).toBeGreaterThanOrEqual(1);
    expect(value(up, 'vio4wd_core_sched_busiest_worker_load_ratio', { numa_node: '0', when: 'before' })).toBeCloseTo(0.25, 2);
    expect(value(up, 'vio4wd_core_sched_rebalances_total')).toBeUndefined();
    const check = await promtool(['check', 'metrics'], (await get(metricsEp)).text);
    expect({ code: check.exitCode, out: `${check.stdout}${check.stderr}` }).toEqual({ code: 0, out: '' });

    // Each trouble was said once, and nothing at error level or worse.
    for (const re of [/no reply from ipc:\/\/.*\/stats /g, /not a stats reply/g, /cannot be balanced/g, /VIO4WD_CORE_SCHED_ENABLE/g]) expect(out.match(re)).toHaveLength(1);
    expect(out.split('\n').filter((l) => /^<[0-3]>/.test(l))).toEqual([]);
    sched.kill('SIGTERM');
    expect((await sched).exitCode).toBe(0);
    expect(out).toMatch(/<5>vio4wd_core_scheduler: stopped after 0 move\(s\)/);
  });

  test.each([
    [['--sensitivity', '0'], '--sensitivity 0: allowed: a number above 0, at most 1'],
    [['--poll-interval', '-1'], '--poll-interval -1: allowed: a number above 0, at most 3600'],
    [['--loglevel', '8'], '--loglevel 8: allowed: an integer from 0 to 7'],
    [['--sustain', '1.5'], '--sustain 1.5: allowed: an integer from 1 to 1000'],
    [['--load-threshold', 'x'], '--load-threshold NaN: allowed: a number above 0, at most 1'],
    [['--bogus'], 'Unknown argument: bogus'],
    [['--metrics-ep', 'http://127.0.0.1/metrics'], "--metrics-ep 'http://127.0.0.1/metrics' is not off, an http:// URL with a port, nor a unix socket; allowed: off, http://HOST:PORT/PATH (e.g. http://127.0.0.1:19721/metrics) or a unix socket (unix:/run/vio4wd/metrics.sock)"],
  ])('vio4wd-core-scheduler %j exits 2: %s', async (args, message) => {
    const r = await execa('node', [SCHED_BIN, '--config', '/dev/null', ...args], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe(`<3>vio4wd_core_scheduler: ${message}`);
  });

  test('a bad VIO4WD_CORE_SCHED_* variable exits 78 (not restarted by systemd) naming it; the flag wins over a good one', async () => {
    const dir = Forwarder.scratch('schc');
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(`${dir}/cfg`, 'VIO4WD_CORE_SCHED_SENSITIVITY=2\n');
    const r = await execa('node', [SCHED_BIN, '--config', `${dir}/cfg`], { reject: false });
    expect(r.exitCode).toBe(78);
    expect(r.stderr.trim()).toBe(`<3>vio4wd_core_scheduler: ${dir}/cfg:1: VIO4WD_CORE_SCHED_SENSITIVITY: '2' is not allowed; allowed: a number above 0, at most 1`);
    fs.writeFileSync(`${dir}/cfg`, `VIO4WD_CORE_SCHED_POLL_INTERVAL=30\nVIRTIOFWD_ZMQ_STATS_EP=ipc://${dir}/none\nVIO4WD_CORE_SCHED_METRICS_EP=off\n`);
    const s = execa('node', [SCHED_BIN, '--config', `${dir}/cfg`, '--poll-interval', '0.5', '--timeout', '100'], { reject: false });
    await sleep(2500);
    s.kill('SIGTERM');
    const done = await s;
    expect(done.exitCode).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`starting: stats ipc://${dir}/none, core scheduling ipc:///var/run/virtio-forwarder/core_sched, every 0.5 s;`));
    expect(done.stdout).toMatch(/retrying every 0.5 s/);
  });

  test('the pinner and the load monitor: bad pins exit 2, an absent forwarder exits 1 with the reason', async () => {
    const none = `ipc://${Forwarder.scratch('schp')}/none`;
    for (const [args, code, msg] of [
      [['--virtio-cpu=64:1'], 2, /--virtio-cpu=64:1: relay 64 is outside 0-63/],
      [['--virtio-cpu=1:2', '--virtio-cpu=1:3'], 2, /--virtio-cpu: relay 1 is given twice/],
      [['--virtio-cpu=1'], 2, /expected RN:Ci\[,Cj\]/],
      [['--virtio-cpu=1:2'], 1, /no reply from .* \(pinning needs VIO4WD_CORE_SCHED_ENABLE=true/],
      [[], 1, /no reply from ipc:.*none within 200 ms/],
    ] as [string[], number, RegExp][]) {
      const r = await execa('node', [PINNER_BIN, '--config', '/dev/null', '--stats-ep', none, '--sched-ep', none, '--timeout', '200', ...args], { reject: false });
      expect({ args, code: r.exitCode }).toEqual({ args, code });
      expect(r.stderr).toMatch(msg);
    }
    const l = await execa('node', [LOAD_BIN, '--config', '/dev/null', '--stats-ep', none, '--timeout', '200', '--once'], { reject: false });
    expect(l.exitCode).toBe(1);
    expect(l.stderr).toMatch(/no reply from/);
    const bad = await execa('node', [LOAD_BIN, '--config', '/dev/null', '--interval', '0'], { reject: false });
    expect([bad.exitCode, bad.stderr.trim()]).toEqual([2, '--interval 0: allowed: a number from 0.1 to 60']);
  });
});
