#!/usr/bin/env node
// vio4wd_core_scheduler (also vio4wd-core-scheduler): the load balancer service.
import fs from 'node:fs';
import { execa } from 'execa';
import { createLogger, EXIT_CONFIG, productVersion, serveMetrics, type MetricsServer } from '@vio4wd/common';
import { accessProblems } from './access.js';
import { parseSchedulerArgs } from './cli.js';
import { SchedulerMetrics } from './metrics.js';
import { CoreScheduler } from './scheduler.js';

const SERVICE = 'vio4wd_core_scheduler';

async function main(): Promise<number> {
  const run = await parseSchedulerArgs(process.argv.slice(2), {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`<3>${SERVICE}: ${l}\n`),
  });
  if (typeof run === 'number') return run;
  const log = createLogger(SERVICE, run.logLevel);
  const o = run.options;
  const s = o.settings;
  log.notice(`vio4wd ${productVersion()} starting: stats ${o.statsEp}, core scheduling ${o.schedEp}, every ${o.pollIntervalS} s; ` +
    `overload above ${s.loadThreshold} for ${s.sustainIntervals} polls, sensitivity ${s.sensitivity}, ` +
    `${s.globalNuma ? 'any NUMA node' : 'NUMA-local'}${o.pinned.size ? `, relays ${[...o.pinned].join(',')} kept where pinned` : ''}${o.dryRun ? ', dry run' : ''}`);

  // Endpoints it can never reach: say why once, and stay down (RestartPreventExitStatus=).
  const problems = await accessProblems(run.socketGroup, [o.statsEp, o.schedEp]);
  if (problems.length > 0) {
    for (const p of problems) log.error(p);
    return EXIT_CONFIG;
  }

  const metrics = new SchedulerMetrics();
  let metricsServer: MetricsServer;
  try {
    metricsServer = await serveMetrics(run.metricsEp, () => metrics.scrape(), log, 'VIO4WD_CORE_SCHED_METRICS_EP or --metrics-ep');
  } catch (e) {
    // Another program on the port: restarting (exit 1) tries again, in case it goes.
    log.error(e instanceof Error ? e.message : String(e));
    return 1;
  }

  const sched = new CoreScheduler(o, log, metrics);
  const stop = new AbortController();
  const onSignal = (sig: string) => {
    if (stop.signal.aborted) return;
    log.notice(`${sig} received, stopping`);
    stop.abort();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => log.info('SIGHUP ignored (restart the service to reread its configuration)'));
  process.on('unhandledRejection', (e: unknown) => {
    log.crit(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  });

  // Ready once configured and polling; a forwarder that is not there yet is waited for.
  await sched.poll();
  if (process.env.NOTIFY_SOCKET) {
    if (!fs.existsSync(run.notifyHelper)) log.error(`cannot tell systemd we are ready: ${run.notifyHelper} is missing`);
    else {
      const r = await execa(run.notifyHelper, ['polling'], { reject: false });
      if (r.exitCode !== 0) log.error(`cannot tell systemd we are ready: ${r.stderr.replace(/^<\d>/, '')}`);
    }
  }
  await sched.run(stop.signal);
  await metricsServer.stop();
  log.notice(`stopped after ${sched.movesApplied} move(s)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`<2>${SERVICE}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
