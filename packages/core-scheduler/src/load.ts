// vio4wd-load (virtioforwarder_monitor_load): a bar per worker CPU with its
// load over the last interval and the relays it serves; refreshed in place
// on a terminal, plain text otherwise.
import { setTimeout as sleep } from 'node:timers/promises';
import { busyShare, cliParser, ReqClient, type StatsResponse } from '@vio4wd/common';
import { cpuMap, formatView, readStats } from './cpu-map.js';
import { checkNumber, endpointOf, endpointOptions, EXIT_USAGE, parseOrFail, UsageError, type Io } from './options.js';

const BAR = 40;

export function bar(load: number, width = BAR): string {
  const n = Math.round(Math.min(1, Math.max(0, load)) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

/** Lines for one interval between two samples. */
export function loadLines(before: StatsResponse, after: StatsResponse): string[] {
  const prev = new Map(before.worker.map((w) => [w.cpu, w]));
  return cpuMap(after).map((v) => {
    const w = after.worker.find((x) => x.cpu === v.cpu);
    const p = prev.get(v.cpu);
    const load = w && p ? busyShare({ busy: p.busy_cycles, idle: p.idle_cycles }, { busy: w.busy_cycles, idle: w.idle_cycles })?.load : undefined;
    const shown = load === undefined ? `${bar(0).replace(/\./g, '?')}    ?` : `${bar(load)} ${(load * 100).toFixed(0).padStart(3)}%`;
    return `CPU ${String(v.cpu).padStart(3)} ${shown}  ${formatView(v)}`;
  });
}

export async function runLoad(argv: string[], io: Io, tty = false, signal?: AbortSignal): Promise<number> {
  const a = await parseOrFail(
    endpointOptions(cliParser(argv))
      .scriptName('vio4wd-load')
      .usage('$0 [--interval S] [--once]\n\nThe load of each worker CPU (share of time spent moving packets) and the relays it serves.')
      .option('interval', { alias: 'poll-interval', type: 'number', default: 1, describe: 'seconds between refreshes (0.1-60)' })
      .option('once', { type: 'boolean', default: false, describe: 'one interval, then exit (for scripts)' })
      .option('timeout', { type: 'number', default: 2000, describe: 'ms to wait for each reply' })
      .version(false),
    io,
  );
  if (typeof a === 'number') return a;
  let statsEp: string;
  try {
    checkNumber('interval', a.interval, 0.1, 60);
    statsEp = endpointOf('stats', a);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(e.message);
    return EXIT_USAGE;
  }
  const stats = new ReqClient(statsEp, a.timeout);
  try {
    let before = await readStats(stats);
    for (;;) {
      try {
        await sleep(a.interval * 1000, undefined, { signal });
      } catch {
        return 0; // interrupted
      }
      const after = await readStats(stats);
      const lines = loadLines(before, after);
      before = after;
      if (tty) io.out(`\x1b[H\x1b[2J${new Date().toLocaleTimeString()}  worker CPU load over ${a.interval} s\n${lines.join('\n')}`);
      else io.out(`${lines.join('\n')}${a.once ? '' : '\n'}`);
      if (a.once) return 0;
    }
  } catch (e) {
    io.err(e instanceof Error ? e.message : String(e));
    return 1;
  } finally {
    stats.reset();
  }
}
