// What every vio4wd command does with its yargs parser: parse strictly and
// report bad usage through the command's own error stream, never exiting.
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';

/**
 * A yargs parser of argv. Every command makes its parser here, from yargs's
 * CommonJS build: the ES module build of yargs 17 wraps help at a fixed
 * column in the middle of words (yargs/yargs#2112), the CommonJS one at word
 * boundaries. (yargs 18 fixes it, but needs Node.js 20.19: Debian 12 has 18.)
 */
export const cliParser = createRequire(import.meta.url)('yargs') as (argv: readonly string[]) => Argv;

/** Exit code of bad usage or bad configuration (as argparse and the original tools). */
export const EXIT_USAGE = 2;

/**
 * Exit code of a service (virtio-forwarder, vio4wd_core_scheduler) that
 * cannot run until an operator fixes its configuration or the host (sysexits'
 * EX_CONFIG). Both units list it in RestartPreventExitStatus=: systemd does
 * not restart them on it, and keeps restarting them after a crash.
 */
export const EXIT_CONFIG = 78;

/** The arguments, or the exit code: 0 after --help (yargs printed it), 2 for bad usage (the reason went to err). */
export async function parseOrFail<T>(y: Argv<T>, io: { err(line: string): void }): Promise<T | number> {
  let failed = false;
  const a = await y
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      io.err(msg || (err ? err.message : 'invalid usage'));
      failed = true;
    })
    .parseAsync();
  if (failed) return EXIT_USAGE;
  return (a as { help?: unknown }).help === true ? 0 : (a as T);
}
