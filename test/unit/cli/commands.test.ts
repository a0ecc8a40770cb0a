// Every command as a user runs it from a shell: --help wrapped at word
// boundaries in 80 columns when stdout is not a terminal, and output into a
// pipe whose reader goes away (`vio4wd-stats --watch | head -1`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execa } from 'execa';
import { StatsStatus } from '@vio4wd/common';
import { statsEndpoint, ZmqServer } from '@vio4wd/forwarder';
import { captureLog } from '../../lib/log-capture.js';
import { ROOT } from '../../lib/forwarder.js';

/** Each command of the packages' bin entries, with the sources its help text comes from. */
const COMMANDS = (['portctl', 'stats', 'core-scheduler', 'forwarder'] as const).flatMap((pkg) => {
  const dir = path.join(ROOT, 'packages', pkg);
  const bin = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
  return Object.entries(bin).map(([name, file]) => ({ name, pkg, file: path.join(dir, file) }));
});

const sourceText = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');

/** Every word the help of a package can contain: its sources, common's, yargs's own strings. */
function wordsOf(pkg: string): Set<string> {
  const text = [
    sourceText(path.join(ROOT, 'packages', pkg, 'src')),
    sourceText(path.join(ROOT, 'packages/common/src')),
    fs.readFileSync(path.join(ROOT, 'node_modules/yargs/locales/en.json'), 'utf8'),
  ].join('\n').replace(/\\[nt]/g, ' ');
  return new Set(text.match(/[A-Za-z]+/g));
}

describe('--help', () => {
  test.each(COMMANDS.map((c) => [c.name, c] as const))('%s: at most 80 columns, no word broken', async (_name, c) => {
    const r = await execa('node', [c.file, '--help'], { env: { COLUMNS: '' }, reject: false, timeout: 30000 });
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
    // A word cut in two leaves pieces that are not words of the text (for example "tim" and "e.").
    const known = wordsOf(c.pkg);
    const pieces = (r.stdout.match(/[A-Za-z]+/g) ?? []).filter((w) => !known.has(w));
    expect(pieces).toEqual([]);
    // Nor a line that ends or starts with one (a single letter that is not a word).
    expect(lines.filter((l) => /(^|\s)[b-zB-HJ-Z]\.?$/.test(l.trimEnd()) && !/-\w$/.test(l.trimEnd()))).toEqual([]);
  });
});

describe('a pipe whose reader goes away', () => {
  let dir: string;
  let server: ZmqServer<unknown, unknown>;
  let address: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vio4wd-pipe-'));
    address = `ipc://${dir}/stats`;
    server = new ZmqServer(address, statsEndpoint(async () => ({ status: StatsStatus.OK, relay: [], worker: [] })) as never,
      captureLog().log, () => undefined);
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('vio4wd-stats --watch | head -1: the first line, then a quiet exit 0', async () => {
    const stats = COMMANDS.find((c) => c.name === 'vio4wd-stats');
    if (!stats) throw new Error('no vio4wd-stats in the bin entries');
    const r = await execa('bash', ['-c', `set -o pipefail; node "$0" --zmq-ep "$1" --delay 0 --watch | head -1`, stats.file, address],
      { reject: false, timeout: 30000 });
    expect({ code: r.exitCode, out: r.stdout, err: r.stderr }).toEqual({ code: 0, out: 'no relays', err: '' });
  });
});
