// The scheduler's settings: the configuration file gives the defaults, flags win.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { accessProblems, DEFAULT_SETTINGS, parseSchedulerArgs, type SchedulerRun } from '@vio4wd/core-scheduler';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v4-schcli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function parse(file: string, args: string[] = []): Promise<SchedulerRun> {
  const cfg = path.join(dir, `cfg${Math.random()}`);
  fs.writeFileSync(cfg, file);
  const errs: string[] = [];
  const r = await parseSchedulerArgs(['--config', cfg, ...args], { out: () => undefined, err: (l) => errs.push(l) });
  if (typeof r === 'number') throw new Error(`exit ${r}: ${errs.join('; ')}`);
  return r;
}

describe('vio4wd_core_scheduler settings', () => {
  test('from the file: endpoints, interval, every VIO4WD_CORE_SCHED_* knob; pins kept only with KEEP_PINS', async () => {
    const r = await parse([
      'VIRTIOFWD_ZMQ_STATS_EP=ipc:///x/stats', 'VIRTIOFWD_ZMQ_CORE_SCHED_EP=tcp://127.0.0.1:5555', 'VIRTIOFWD_BINARY=/opt/v4/vio4wd-dataplane',
      'VIO4WD_CORE_SCHED_POLL_INTERVAL=2', 'VIO4WD_CORE_SCHED_LOG_LEVEL=7', 'VIO4WD_CORE_SCHED_SENSITIVITY=0.5', 'VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT=true',
      'VIO4WD_CORE_SCHED_LOAD_THRESHOLD=0.9', 'VIO4WD_CORE_SCHED_SUSTAIN=4', 'VIO4WD_CORE_SCHED_KEEP_PINS=true', 'VIRTIOFWD_CPU_PINS=(0:1 5:2,1)',
    ].join('\n'));
    expect(r.logLevel).toBe(7);
    expect(r.notifyHelper).toBe('/opt/v4/vio4wd-notify');
    expect({ ...r.options, pinned: [...r.options.pinned] }).toEqual({
      statsEp: 'ipc:///x/stats', schedEp: 'tcp://127.0.0.1:5555', pollIntervalS: 2, dryRun: false, timeoutMs: 2000, pinned: [0, 5],
      settings: { ...DEFAULT_SETTINGS, sensitivity: 0.5, loadThreshold: 0.9, sustainIntervals: 4, globalNuma: true },
    });
    expect([...(await parse('VIRTIOFWD_CPU_PINS=(0:1 5:2,1)')).options.pinned]).toEqual([]);
  });

  test('flags win over the file', async () => {
    const r = await parse('VIO4WD_CORE_SCHED_POLL_INTERVAL=9\nVIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT=true\nVIRTIOFWD_CPU_PINS=3:1', [
      '--poll-interval', '0.5', '--no-global-numa-opt', '--keep-pins', '--sensitivity', '0.1', '--stats-ep', 'ipc:///y', '--dry-run', '--loglevel', '3']);
    expect(r.logLevel).toBe(3);
    expect([r.options.pollIntervalS, r.options.settings.globalNuma, [...r.options.pinned], r.options.settings.sensitivity, r.options.statsEp, r.options.dryRun])
      .toEqual([0.5, false, [3], 0.1, 'ipc:///y', true]);
  });
});

describe('vio4wd_core_scheduler as a service: what only an operator can fix', () => {
  test('a configuration file with a bad value exits 78 (RestartPreventExitStatus=), naming it', async () => {
    const cfg = path.join(dir, 'bad');
    fs.writeFileSync(cfg, 'VIO4WD_CORE_SCHED_SENSITIVITY=2\n');
    const errs: string[] = [];
    expect(await parseSchedulerArgs(['--config', cfg], { out: () => undefined, err: (l) => errs.push(l) })).toBe(78);
    expect(errs.join('\n')).toMatch(/VIO4WD_CORE_SCHED_SENSITIVITY/);
    // Bad usage stays 2.
    expect(await parseSchedulerArgs(['--config', cfg, '--sustain', '0'], { out: () => undefined, err: () => undefined })).toBe(2);
  });

  test('a socket group the host lacks, and an endpoint that refuses this process, are named; one not there yet is not', async () => {
    const missing = await accessProblems('vio4wd-no-such-group', [`ipc://${dir}/stats`, `ipc://${dir}/stats`]);
    expect(missing).toEqual([expect.stringMatching(/^VIRTIOFWD_SOCKET_GROUP=vio4wd-no-such-group: no such group on this host/)]);
    expect(await accessProblems('root', [`ipc://${dir}/not-there-yet`])).toEqual([]);
    expect(await accessProblems('vio4wd-no-such-group', ['tcp://127.0.0.1:5555'])).toEqual([]);
  });
});
