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
    '--', '--control-socket', ctl, '--vhost-dir', dir, ...extraArgs], { reject: false, buffer: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  // The last of its log, printed if it dies by itself: a crash must say what it was doing.
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-20000);
  };
  dp.stdout.on('data', keep);
  dp.stderr.on('data', keep);
  let stopping = false;
  void dp.then((r) => {
    if (!stopping) console.error(`vio4wd-dataplane died by itself (${r.signal ?? `exit ${String(r.exitCode)}`}); its log:\n${log}`);
  });
  cleanups.push(async () => {
    stopping = true;
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
  vm_to_vf_latency: z.object({ n: z.number(), p50_ns: z.number(), p99_ns: z.number(), max_ns: z.number() }).optional(),
  vf_to_vm_latency: z.object({ n: z.number(), p50_ns: z.number(), p99_ns: z.number(), max_ns: z.number() }).optional(),
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
  /** Stamp packets and report the one-way latency of every one received (no reordering counts then). */
  latency?: boolean;
}

/**
 * Runs pktgen in exact-count mode (bidirectional, paced, then a 1 s drain):
 * deep rings on both outer ports, so that a generator briefly descheduled by
 * the test's own processes never overflows one. Stopping it is pushed onto cleanups.
 */
export function runCount(tag: string, o: CountOptions, cleanups: Cleanup[]): {
  done: Promise<CountResult>;
  stop: () => Promise<void>;
  /** Stop sending now (fewer than count), drain and report what was sent and received. */
  finish: () => void;
} {
  const prefix = `${tag}-gen`;
  const vdevQueues = o.vdevQueues ?? 1;
  // --hold: the generator keeps its ports open after it reports, until killed
  // after the relay's dataplane has stopped. (DPDK 22.11's memif PMD unmaps
  // its memory on a peer disconnect while the relay may be polling it: the
  // relay's dataplane can die of SIGSEGV when a memif peer exits first.)
  const gen = execa(PKTGEN, ['--no-huge', '-m', '256', '-l', '0', '--no-pci', '--log-level=3', '--file-prefix', prefix,
    '--vdev', `net_memif0,role=client,socket=${o.memif},socket-abstract=no,rsize=14`,
    '--vdev', `net_virtio_user0,path=${o.vhost},queue_size=4096${vdevQueues > 1 ? `,queues=${vdevQueues}` : ''}`,
    '--', '--vm', 'net_virtio_user0', '--vf', 'net_memif0', '--dir', 'bidir', '--count', String(o.count), '--pps', String(o.pps),
    '--duration-ms', '1000', '--flows', String(o.flows ?? 1), '--queues', String(o.queues ?? vdevQueues), '--hold',
    ...(o.latency ? ['--latency'] : [])],
  { reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false });
  const stop = async () => {
    gen.kill('SIGTERM');
    const timer = setTimeout(() => gen.kill('SIGKILL'), 5000);
    await gen;
    clearTimeout(timer);
    cleanDpdkRuntime(prefix);
  };
  // Runs after every other cleanup (they run last-pushed first): after the dataplane stopped.
  cleanups.unshift(stop);
  let out = '';
  gen.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<CountResult>((resolve, reject) => {
    gen.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{') && l.endsWith('}'));
      if (line) resolve(countResult.parse(JSON.parse(line)));
    });
    void gen.then((r) => reject(new Error(`pktgen exited (${r.signal ?? `exit ${String(r.exitCode)}`}) without a result:\n${out}`)));
  });
  return { done, stop, finish: () => void gen.kill('SIGUSR2') };
}
