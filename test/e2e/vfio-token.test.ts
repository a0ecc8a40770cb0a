// VIRTIOFWD_VFIO_VF_TOKEN up to the vfio boundary: the three notations of
// the config become the EAL argument (or none), and the real dataplane's
// EAL accepts a UUID token and refuses a malformed one. (Binding a VF to
// vfio-pci needs a PCI VF, which this machine does not have.)
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { parseConfig } from '@vio4wd/common';
import { DEFAULT_VF_TOKEN, ealArgs } from '@vio4wd/forwarder';
import { DATAPLANE, Forwarder, cleanDpdkRuntime } from '../lib/forwarder.js';

jest.setTimeout(60000);

const UUID = 'bd2a06c8-2f3b-4a4c-9d71-5c3e1a8f6b20';

function tokenArgs(value: string): string[] {
  const { config } = parseConfig(`VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_VFIO_VF_TOKEN=${value}\n`, 'f', { hostCpus: 4 });
  const args = ealArgs(config);
  const i = args.indexOf('--vfio-vf-token');
  return i < 0 ? [] : args.slice(i, i + 2);
}

/** Starts the dataplane with one more EAL argument pair; its exit code and what it printed. */
async function startWith(extra: string[]) {
  const dir = Forwarder.scratch('tok');
  const prefix = `vio4wd-${path.basename(dir)}`;
  const dp = execa(DATAPLANE, ['--no-huge', '-m', '128', '-l', '0,1', '--file-prefix', prefix, '-a', '0000:00:00.0', ...extra,
    '--', '--control-socket', `${dir}/ctl.sock`], { reject: false, all: true, stdin: 'ignore', timeout: 30000 });
  // Ready means EAL took every argument: then stop it.
  for (let i = 0; i < 200 && !fs.existsSync(`${dir}/ctl.sock`) && dp.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  dp.kill('SIGTERM');
  const r = await dp;
  cleanDpdkRuntime(prefix);
  fs.rmSync(dir, { recursive: true, force: true });
  return { code: r.exitCode, out: r.all ?? '' };
}

describe('VFIO VF token', () => {
  test('empty: no token; 0: DPDK default token; a UUID: that token', () => {
    expect(tokenArgs('')).toEqual([]);
    expect(tokenArgs('0')).toEqual(['--vfio-vf-token', DEFAULT_VF_TOKEN]);
    expect(tokenArgs(UUID)).toEqual(['--vfio-vf-token', UUID]);
  });

  test("the dataplane's EAL accepts a UUID token and refuses a malformed one", async () => {
    const good = await startWith(['--vfio-vf-token', UUID]);
    expect(good.out).toMatch(/ready: control socket/);
    expect(good.code).toBe(0);
    const bad = await startWith(['--vfio-vf-token', 'not-a-uuid']);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/invalid parameters for --vfio-vf-token/);
    expect(bad.out).not.toMatch(/ready: control socket/);
  });
});
