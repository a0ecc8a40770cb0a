// A bare vio4wd-dataplane driven over its control socket, and vio4wd-pktgen
// in exact-count mode as both outer ports of a relay (the VM's virtio_user
// and the memif peer of its VF). For tests of the fast path that need no
// supervisor.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { z } from 'zod';
import { DataplaneClient } from '@vio4wd/common';
import { DATAPLANE, ROOT, cleanDpdkRuntime } from './forwarder.js';

export const PKTGEN = path.join(ROOT, 'build/dataplane/vio4wd-pktgen');

export type Cleanup = () => Promise<unknown>;

/**
 * Starts the dataplane with the given EAL lcore layout and connects to it.
 * Stopping it, and removing dir, is pushed onto cleanups.
 */
export async function startDataplane(dir: string, lcores: string, cleanups: Cleanup[], extraArgs: string[] = []): Promise<DataplaneClient> {
  const prefix = `vio4wd-${path.basename(dir)}`;
  const ctl = `${dir}/ctl.sock`;
  const dp = execa(DATAPLANE, ['--no-huge', '-m', '512', '--lcores', lcores, '--file-prefix', prefix, '-a', '0000:00:00.0',
    '--', '--control-socket', ctl, ...extraArgs], { reject: false, buffer: false, stdio: 'ignore' });
  cleanups.push(async () => {
    dp.kill('SIGTERM');
    await dp;
    cleanDpdkRuntime(prefix);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 200 && !fs.existsSync(ctl); i++) await sleep(50);
  const client = new DataplaneClient(ctl);
  for (let i = 0; ; i++) {
    try {
      await client.connect();
      break;
    } catch (e) {
      if (i > 50) throw e;
      await sleep(50);
    }
  }
  cleanups.push(async () => client.close());
  return client;
}

/** What vio4wd-pktgen --count prints. */
export const countResult = z.object({
  dir: z.string(),
  count: z.number(),
  vm_tx: z.number(),
  vf_rx: z.number(),
  vf_tx: z.number(),
  vm_rx: z.number(),
  vf_reordered: z.number(),
  vm_reordered: z.number(),
  vm_split_flows: z.number(),
  vm_rxq: z.array(z.number()),
});
export type CountResult = z.infer<typeof countResult>;

export interface CountOptions {
  /** The relay's memif socket and vhost-user socket. */
  memif: string;
  vhost: string;
  count: number;
  pps: number;
  flows?: number;
  /** Queue pairs the VM's virtio_user offers, and how many it configures (enables). */
  vdevQueues?: number;
  queues?: number;
}

/**
 * Runs pktgen in exact-count mode (bidirectional, paced, then a 1 s drain):
 * deep rings on both outer ports, so that a generator briefly descheduled by
 * the test's own processes never overflows one. Stopping it is pushed onto cleanups.
 */
export function runCount(tag: string, o: CountOptions, cleanups: Cleanup[]): { done: Promise<CountResult> } {
  const prefix = `${tag}-gen`;
  const vdevQueues = o.vdevQueues ?? 1;
  const gen = execa(PKTGEN, ['--no-huge', '-m', '256', '-l', '0', '--no-pci', '--log-level=3', '--file-prefix', prefix,
    '--vdev', `net_memif0,role=client,socket=${o.memif},socket-abstract=no,rsize=14`,
    '--vdev', `net_virtio_user0,path=${o.vhost},queue_size=4096${vdevQueues > 1 ? `,queues=${vdevQueues}` : ''}`,
    '--', '--vm', 'net_virtio_user0', '--vf', 'net_memif0', '--dir', 'bidir', '--count', String(o.count), '--pps', String(o.pps),
    '--duration-ms', '1000', '--flows', String(o.flows ?? 1), '--queues', String(o.queues ?? vdevQueues)],
  { reject: false, stdin: 'ignore' });
  cleanups.push(async () => {
    gen.kill('SIGKILL');
    await gen;
    cleanDpdkRuntime(prefix);
  });
  const done = gen.then((r) => {
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.exitCode !== 0 || !line.startsWith('{')) throw new Error(`pktgen failed (exit ${String(r.exitCode)}):\n${r.stdout}\n${r.stderr}`);
    return countResult.parse(JSON.parse(line));
  });
  return { done };
}
