// Debian's Prometheus server and promtool (deploy/prometheus-tools.sh
// unpacks them into the cache), for the tests.
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { ROOT } from './forwarder.js';

let dir: string | undefined;

/** The directory whose usr/bin has prometheus and promtool (unpacked the first time). */
export function prometheusDir(): string {
  dir ??= execaSync('bash', [path.join(ROOT, 'deploy/prometheus-tools.sh')]).stdout.trim();
  return dir;
}

export const prometheusBin = () => path.join(prometheusDir(), 'usr/bin/prometheus');

/** promtool with these arguments, input on its stdin. */
export function promtool(args: string[], input?: string) {
  return execa(path.join(prometheusDir(), 'usr/bin/promtool'), args, { input, reject: false, cwd: ROOT });
}
