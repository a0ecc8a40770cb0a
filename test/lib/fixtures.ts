// What every e2e test file sets up and takes down the same way.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import type { Cleanup } from './dataplane.js';
import { cleanDpdkRuntime, Forwarder, type ForwarderOptions } from './forwarder.js';

/**
 * One forwarder for the tests of a file (or of a describe block): its
 * scratch directory and configuration made now (options from the
 * directory; before, if given, runs in it first), started in beforeAll,
 * stopped in afterAll with its DPDK runtime files and directory removed.
 */
export function sharedForwarder(tag: string, options: (dir: string) => ForwarderOptions, before?: (dir: string) => void): Forwarder {
  const dir = Forwarder.scratch(tag);
  before?.(dir);
  const fwd = Forwarder.write(dir, options(dir));
  beforeAll(async () => {
    await fwd.start();
  });
  afterAll(async () => {
    try {
      await fwd.stop();
    } finally {
      cleanDpdkRuntime(`vio4wd-${path.basename(dir)}`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return fwd;
}

/**
 * What a test started, to be stopped after it, last first, whether it
 * passed or not (a cleanup that fails does not hide the test's own result).
 */
export function cleanupsAfterEach(): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
    cleanups.length = 0;
  });
  return cleanups;
}

/** A forwarder of its own for one test, in dir: started now; stopped, with its DPDK runtime files and dir removed, after the test. */
export async function startedForwarder(cleanups: Cleanup[], dir: string, options: ForwarderOptions): Promise<Forwarder> {
  const fwd = Forwarder.write(dir, options);
  cleanups.push(async () => {
    await fwd.stop();
    cleanDpdkRuntime(`vio4wd-${path.basename(dir)}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await fwd.start();
  return fwd;
}
