// Settings shared by the scheduler and the two tools: the configuration
// file (/etc/default/virtioforwarder, --config) gives the defaults, flags win.
import type { Argv } from 'yargs';
import { ConfigError, ConfigReadError, DEFAULT_CONFIG_PATH, readConfig, type Config } from '@vio4wd/common';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

// Exit codes: 0 success, 1 failure (refused, unreachable), 2 bad usage or configuration.
export { EXIT_USAGE, parseOrFail } from '@vio4wd/common';

export class UsageError extends Error {}

/**
 * The configuration: --config FILE must exist; the default file may be
 * missing (a host where only the tools are used), and then the built-in
 * defaults apply. A file with bad values is a usage error naming each.
 */
export function readToolConfig(file: string | undefined): Config {
  try {
    // Which CPUs the forwarder may use is its own check, not the tools'.
    return readConfig(file, { optional: file === undefined, cpusOfThisHost: false }).config;
  } catch (e) {
    if (e instanceof ConfigReadError) throw new UsageError(`--config ${file ?? e.path}: ${e.reason}`);
    if (e instanceof ConfigError) throw new UsageError(e.problems.join('\n'));
    throw e;
  }
}

export interface EndpointArgs {
  config?: string;
  'stats-ep'?: string;
  'sched-ep'?: string;
}

/**
 * The stats or core scheduling endpoint: its flag, else the configuration's
 * variable (the file is read only then, unless config is given).
 */
export function endpointOf(kind: 'stats' | 'sched', a: EndpointArgs, config?: Config): string {
  const flag = kind === 'stats' ? a['stats-ep'] : a['sched-ep'];
  if (flag !== undefined) return flag;
  const c = config ?? readToolConfig(a.config);
  return kind === 'stats' ? c.zmqStatsEp : c.zmqCoreSchedEp;
}

/** --config, --stats-ep and --sched-ep, as every tool here takes them. */
export function endpointOptions<T>(y: Argv<T>) {
  return y
    .option('config', { type: 'string', describe: `configuration file [default: ${DEFAULT_CONFIG_PATH}]` })
    .option('stats-ep', { type: 'string', describe: 'stats endpoint [default: VIRTIOFWD_ZMQ_STATS_EP]' })
    .option('sched-ep', { type: 'string', describe: 'core scheduling endpoint [default: VIRTIOFWD_ZMQ_CORE_SCHED_EP]' });
}

export function checkNumber(name: string, v: number | undefined, lo: number, hi: number, opts: { int?: boolean; aboveLo?: boolean } = {}): void {
  if (v === undefined) return;
  const ok = Number.isFinite(v) && (opts.int ? Number.isInteger(v) : true) && (opts.aboveLo ? v > lo : v >= lo) && v <= hi;
  if (!ok) throw new UsageError(`--${name} ${v}: allowed: ${opts.int ? 'an integer' : 'a number'} ${opts.aboveLo ? `above ${lo}` : `from ${lo}`}${opts.aboveLo ? ', at most' : ' to'} ${hi}`);
}
