// vio4wd_core_scheduler's command line: the original's flags, the
// configuration file's VIO4WD_CORE_SCHED_* as defaults.
import { cliParser, EXIT_CONFIG, parseMetricsEndpoint, type MetricsEndpoint } from '@vio4wd/common';
import { checkNumber, endpointOf, endpointOptions, EXIT_USAGE, parseOrFail, readToolConfig, UsageError, type Io } from './options.js';
import { DEFAULT_SETTINGS } from './plan.js';
import type { SchedulerOptions } from './scheduler.js';

export interface SchedulerRun {
  options: SchedulerOptions;
  logLevel: number;
  /** Where the READY=1 helper lives (beside the dataplane). */
  notifyHelper: string;
  /** VIRTIOFWD_SOCKET_GROUP: the group of the forwarder's ipc endpoints. */
  socketGroup: string;
  /** Where it serves its metrics (--metrics-ep, VIO4WD_CORE_SCHED_METRICS_EP). */
  metricsEp: MetricsEndpoint;
}

/** The run's settings, or the exit code (0 after --help, 2 for bad usage, 78 for a configuration file it cannot use). */
export async function parseSchedulerArgs(argv: string[], io: Io): Promise<SchedulerRun | number> {
  let metricsFlag: MetricsEndpoint | undefined;
  const a = await parseOrFail(
    endpointOptions(cliParser(argv))
      .scriptName('vio4wd-core-scheduler')
      .usage('$0 [options]\n\nMoves relay directions between virtio-forwarder\'s worker CPUs on their measured load (docs/core-scheduler.md).\nThe forwarder needs VIO4WD_CORE_SCHED_ENABLE=true.')
      .option('poll-interval', { type: 'number', describe: 'seconds between load samples [default: VIO4WD_CORE_SCHED_POLL_INTERVAL, 5]' })
      .option('loglevel', { type: 'number', describe: 'log threshold 0-7 [default: VIO4WD_CORE_SCHED_LOG_LEVEL, 6]' })
      .option('sensitivity', { type: 'number', describe: 'share of the busiest CPU\'s load above the ideal a rebalance must remove, above 0, at most 1 [default: VIO4WD_CORE_SCHED_SENSITIVITY, 0.25]' })
      .option('global-numa-opt', { type: 'boolean', describe: 'use worker CPUs of every NUMA node for every relay [default: VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT]' })
      .option('keep-pins', { type: 'boolean', describe: 'never move relays pinned in VIRTIOFWD_CPU_PINS [default: VIO4WD_CORE_SCHED_KEEP_PINS]' })
      .option('load-threshold', { type: 'number', describe: 'a worker busier than this (0-1) is overloaded [default: VIO4WD_CORE_SCHED_LOAD_THRESHOLD, 0.8]' })
      .option('sustain', { type: 'number', describe: 'polls a worker must stay overloaded before relays move [default: VIO4WD_CORE_SCHED_SUSTAIN, 3]' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'log the moves it would make, make none' })
      .option('metrics-ep', { type: 'string', describe: 'where to serve metrics: http://HOST:PORT/PATH, unix:/PATH or off [default: VIO4WD_CORE_SCHED_METRICS_EP, http://127.0.0.1:19722/metrics]' })
      .option('timeout', { type: 'number', default: 2000, describe: 'ms to wait for each reply (then the socket is made anew)' })
      .version(false),
    io,
  );
  if (typeof a === 'number') return a;
  try {
    checkNumber('poll-interval', a['poll-interval'], 0, 3600, { aboveLo: true });
    checkNumber('loglevel', a.loglevel, 0, 7, { int: true });
    checkNumber('sensitivity', a.sensitivity, 0, 1, { aboveLo: true });
    checkNumber('load-threshold', a['load-threshold'], 0, 1, { aboveLo: true });
    checkNumber('sustain', a.sustain, 1, 1000, { int: true });
    checkNumber('timeout', a.timeout, 10, 60000, { int: true });
    if (a['metrics-ep'] !== undefined) metricsFlag = metricsEndpointFlag(a['metrics-ep']);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(e.message);
    return EXIT_USAGE;
  }
  // Only an operator can fix the file: the service is not restarted for it.
  let c;
  try {
    c = readToolConfig(a.config);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(e.message);
    return EXIT_CONFIG;
  }
  const cs = c.coreSched;
  const keepPins = a['keep-pins'] ?? cs.keepPins;
  return {
    logLevel: a.loglevel ?? cs.logLevel,
    notifyHelper: c.dataplaneBinary.replace(/[^/]+$/, 'vio4wd-notify'),
    socketGroup: c.socketGroup,
    metricsEp: metricsFlag ?? cs.metricsEp,
    options: {
      statsEp: endpointOf('stats', a, c),
      schedEp: endpointOf('sched', a, c),
      pollIntervalS: a['poll-interval'] ?? cs.pollIntervalS,
      dryRun: a['dry-run'],
      timeoutMs: a.timeout,
      pinned: new Set(keepPins ? c.cpuPins.map((p) => p.relay) : []),
      settings: {
        ...DEFAULT_SETTINGS,
        sensitivity: a.sensitivity ?? cs.sensitivity,
        loadThreshold: a['load-threshold'] ?? cs.loadThreshold,
        sustainIntervals: a.sustain ?? cs.sustainIntervals,
        globalNuma: a['global-numa-opt'] ?? cs.globalNumaOpt,
      },
    },
  };
}

function metricsEndpointFlag(v: string): MetricsEndpoint {
  try {
    return parseMetricsEndpoint(v);
  } catch (e) {
    throw new UsageError(`--metrics-ep ${e instanceof Error ? e.message : String(e)}`);
  }
}
