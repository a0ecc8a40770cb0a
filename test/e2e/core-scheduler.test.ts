// The core scheduler end to end: the real supervisor with three worker
// lcores, three relays pinned onto one of them, bidirectional traffic from
// vio4wd-pktgen through each, and the real vio4wd_core_scheduler. This host
// has 2 CPUs, so the three worker lcores share CPU 1 (VIO4WD_WORKER_CPUS=1,
// DPDK --lcores '(1,2,3)@(1)'). None of them sleeps when idle (the default),
// so each always gets a third of CPU 1 wherever the relays are, and a
// worker's load stays its traffic's share of that third: a move changes the
// loads as it would with a CPU per worker, only three times larger.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, jest, test } from '@jest/globals';
import { execa, type ResultPromise } from 'execa';
import { Forwarder, ROOT, cleanDpdkRuntime } from '../lib/forwarder.js';
import { runCount, type CountResult } from '../lib/dataplane.js';
import { FLAP_WINDOW } from '@vio4wd/core-scheduler';
import { cleanupsAfterEach } from '../lib/fixtures.js';

jest.setTimeout(240000);

const SCHED_BIN = path.join(ROOT, 'packages/core-scheduler/dist/bin.js');
const PINNER_BIN = path.join(ROOT, 'packages/core-scheduler/dist/pinner-bin.js');
const LOAD_BIN = path.join(ROOT, 'packages/core-scheduler/dist/load-bin.js');
const N = 3;
const pci = (i: number) => `0000:ff:02.${i}`;

const cleanups = cleanupsAfterEach();

class Scheduler {
  out = '';
  private proc: ResultPromise<{ buffer: false; reject: false; stdout: 'pipe'; stderr: 'pipe' }>;

  constructor(fwd: Forwarder, extra: string[]) {
    this.proc = execa('node', [SCHED_BIN, '--config', fwd.configPath, '--poll-interval', '1', '--sustain', '2', '--load-threshold', '0.1', '--loglevel', '7', ...extra],
      { buffer: false, reject: false, stdout: 'pipe', stderr: 'pipe' });
    const keep = (d: Buffer) => {
      this.out += d.toString();
    };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
  }

  lines(re: RegExp): string[] {
    return this.out.split('\n').filter((l) => re.test(l));
  }

  async waitFor(re: RegExp, count = 1, timeoutMs = 60000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines(re).length < count) {
      if (Date.now() > deadline) throw new Error(`scheduler: no ${String(re)} (x${count}) within ${timeoutMs} ms:\n${this.out.slice(-4000)}`);
      await sleep(100);
    }
  }

  async stop(): Promise<number | undefined> {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    this.proc.kill('SIGTERM');
    const r = await this.proc;
    return r.exitCode;
  }
}

interface Moved {
  key: string;
  from: number;
  to: number;
}

/** The scheduler's polls in order (it logs each at debug level): the moves each made. */
function polls(sched: Scheduler): Moved[][] {
  const out: Moved[][] = [];
  let last = '';
  for (const l of sched.lines(/moving relay|NUMA 0: busiest CPU/)) {
    const m = /moving relay (\d+) (\S+) from CPU (\d+) to CPU (\d+).*predicted (.*)$/.exec(l);
    if (!m) {
      out.push([]);
      last = '';
      continue;
    }
    // One poll's moves share their reason line.
    if (m[5] !== last || out.length === 0) out.push([]);
    last = m[5] as string;
    out[out.length - 1]?.push({ key: `${m[1]} ${m[2]}`, from: Number(m[3]), to: Number(m[4]) });
  }
  return out;
}

/** Moves that send a direction back where it came from within FLAP_WINDOW polls. */
function flaps(all: Moved[][]): string[] {
  const out: string[] = [];
  all.forEach((moves, i) => {
    for (const m of moves) {
      for (let j = Math.max(0, i - FLAP_WINDOW); j < i; j++)
        if (all[j]?.some((e) => e.key === m.key && e.from === m.to)) out.push(`poll ${i}: relay ${m.key} back to CPU ${m.to} after ${i - j} poll(s)`);
    }
  });
  return out;
}

/** Where each relay's directions run: "relay:vf2vm,vm2vf". */
async function placement(fwd: Forwarder): Promise<string[]> {
  return (await fwd.stats()).relay.map((r) => `${r.id}:${r.cpu?.vf_to_vm ?? '?'},${r.cpu?.vm_to_vf ?? '?'}`);
}

async function startForwarder(dir: string): Promise<Forwarder> {
  const aliases = Array.from({ length: N }, (_, i) => `${pci(i)}=net_memif${i},role=server,socket=${dir}/m${i}.sock,socket-abstract=no,rsize=14`).join(' ');
  const fwd = Forwarder.write(dir, {
    vhostClient: false,
    extra: [
      'VIRTIOFWD_CPU_MASK=1,2,3',
      'VIO4WD_WORKER_CPUS=1',
      // The generators share CPU 0 with jest: hold bursts long enough that only the relay could lose one.
      'VIO4WD_HOLD_US=200000',
      'VIO4WD_CORE_SCHED_ENABLE=true',
      `VIRTIOFWD_ZMQ_CORE_SCHED_EP=ipc://${dir}/core_sched`,
      'VIRTIOFWD_CPU_PINS=(0:1 1:1 2:1)',
      `VIRTIOFWD_DEVICE_ALIASES=(${aliases})`,
    ],
  });
  await fwd.start();
  return fwd;
}

/**
 * Traffic on every relay that runs until finish() (at most `count` packets
 * each way, a bound far beyond what a test waits for): the test is bounded
 * by the scheduler's polls, not by how long the traffic happens to last.
 */
function traffic(dir: string, count: number, pps: number): { done: Promise<CountResult[]>; finish: () => Promise<CountResult[]>; ended: () => boolean } {
  const gens = Array.from({ length: N }, (_, i) =>
    runCount(`${path.basename(dir)}-${i}`, { memif: `${dir}/m${i}.sock`, vhost: `${dir}/vhost/virtio-forwarder${i}.sock`, count, pps }, cleanups));
  const done = Promise.all(gens.map((g) => g.done));
  let ended = false;
  void done.finally(() => {
    ended = true;
  });
  return {
    done,
    finish: () => {
      for (const g of gens) g.finish();
      return done;
    },
    ended: () => ended,
  };
}

/** Every packet sent each way arrived, in order (a run that sent nothing fails). */
function expectLossless(results: CountResult[]): void {
  for (const r of results) {
    expect(r.vm_tx).toBeGreaterThan(0);
    expect(r.vf_tx).toBeGreaterThan(0);
    expect([r.vf_rx, r.vm_rx]).toEqual([r.vm_tx, r.vf_tx]);
    expect([r.vf_reordered, r.vm_reordered]).toEqual([0, 0]);
  }
}

describe('vio4wd_core_scheduler', () => {
  test('spreads relays pinned onto one worker under traffic, losing and reordering nothing, then holds still; a dry run moves nothing; it rides out a forwarder restart', async () => {
    const dir = Forwarder.scratch('sch');
    let fwd = await startForwarder(dir);
    const prefix = `vio4wd-${path.basename(dir)}`;
    cleanups.push(async () => {
      await fwd.stop();
      cleanDpdkRuntime(prefix);
    });
    for (let i = 0; i < N; i++) expect((await fwd.portctl('add', `--virtio-id=${i}`, `--pci-addr=${pci(i)}`)).exitCode).toBe(0);
    expect(await placement(fwd)).toEqual(['0:1,1', '1:1,1', '2:1,1']);

    // 40,000 packets/s each way on each relay, until the test has seen what it waits for.
    const BOUND = 100_000_000;
    const PPS = 40_000;
    const gens = traffic(dir, BOUND, PPS);
    for (let i = 0; i < N; i++) await fwd.waitConnected(i);

    // A dry run first: it says what it would move, and nothing moves.
    const dry = new Scheduler(fwd, ['--dry-run']);
    cleanups.push(async () => dry.stop());
    await dry.waitFor(/would move relay/);
    await dry.waitFor(/dry run: \d+ move\(s\) not made/);
    expect(await dry.stop()).toBe(0);
    expect(await placement(fwd)).toEqual(['0:1,1', '1:1,1', '2:1,1']);
    const dryMoves = dry.lines(/would move relay/);

    // The real one.
    const sched = new Scheduler(fwd, []);
    cleanups.push(async () => sched.stop());
    await sched.waitFor(/moving relay/);
    // Steady load: then at least 6 polls in a row without a move, while the traffic still runs.
    const quietPolls = () => {
      const events = sched.lines(/moving relay|NUMA 0: busiest CPU/);
      let n = 0;
      for (const e of events) n = /moving relay/.test(e) ? 0 : n + 1;
      return n;
    };
    const deadline = Date.now() + 60000;
    while (quietPolls() < 6 && !gens.ended() && Date.now() < deadline) await sleep(100);
    expect({ quietPolls: quietPolls() >= 6, trafficEnded: gens.ended() }).toEqual({ quietPolls: true, trafficEnded: false });
    const moved = sched.lines(/moving relay/);
    const quiet = quietPolls();
    const all = polls(sched);
    const results = await gens.finish();
    const spread = await placement(fwd);
    const rebalances = all.filter((p) => p.length > 0).length;
    console.log(`dry run would have made:\n${dryMoves.join('\n')}\nmoves (${rebalances} rebalance(s) until ${quiet} quiet polls):\n${moved.join('\n')}\nplacement after: ${spread.join(' ')}\n` +
      `polls without a move after the last one: ${quiet}\npktgen: ${results.map((r) => JSON.stringify(r)).join('\n')}`);
    // Later polls may rebalance again if the host's load shifts (this machine's CPUs are shared), but never flap.
    expect(moved.length).toBeGreaterThan(0);
    expect(rebalances).toBeLessThanOrEqual(3);
    expect(flaps(all)).toEqual([]);
    const cpus = new Set(spread.flatMap((p) => p.split(':')[1]?.split(',') ?? []));
    expect(cpus.size).toBeGreaterThanOrEqual(2);
    expectLossless(results);

    // The original's view: the pinner's map and the load monitor match the stats.
    const pin = await execa('node', [PINNER_BIN, '--config', fwd.configPath]);
    const want = [1, 2, 3].map((c) => {
      const on = (k: 0 | 1) => spread.filter((p) => (p.split(':')[1]?.split(',')[k] ?? '') === String(c)).map((p) => p.split(':')[0]).join(',') || '-';
      return `CPU ${c}: VM->VF ${on(1)}  VF->VM ${on(0)}`;
    });
    expect(pin.stdout.split('\n')).toEqual(want);
    const load = await execa('node', [LOAD_BIN, '--config', fwd.configPath, '--once', '--interval', '0.5']);
    expect(load.stdout.split('\n').map((l) => l.replace(/\[[#.]+\]\s+\d+%/, 'BAR'))).toEqual(want.map((w) => w.replace(/^CPU (\d):/, 'CPU   $1 BAR ')));

    // The forwarder goes away and comes back (relays restored from its state, where the scheduler put them).
    expect(await fwd.stop()).toBe(0);
    await sched.waitFor(/stats endpoint .*: no reply .*\(is virtio-forwarder running\?\); retrying every 1 s/);
    for (const f of cleanups.splice(0, N)) await f(); // the old generators
    fwd = await startForwarder(dir);
    await sched.waitFor(/balancing worker CPUs 1,2,3/, 2);
    expect(await placement(fwd)).toEqual(spread);

    // The pinner passes on the forwarder's refusal (exit 1, its reason), and nothing moves.
    const refused = await execa('node', [PINNER_BIN, '--config', fwd.configPath, '--virtio-cpu=0:1', '--virtio-cpu=1:7'], { reject: false });
    expect([refused.exitCode, refused.stderr.trim()]).toEqual([1, 'pinning refused: relay 1: VF->VM CPU 7 is not a worker CPU (VIRTIOFWD_CPU_MASK: 1,2,3)']);
    expect(await placement(fwd)).toEqual(spread);

    // It carries on: pinned back onto CPU 1 with the pinner, the relays are spread again.
    const repin = await execa('node', [PINNER_BIN, '--config', fwd.configPath, '--virtio-cpu=0:1', '--virtio-cpu=1:1', '--virtio-cpu=2:1,1'], { reject: false });
    expect(repin.exitCode).toBe(0);
    expect(repin.stdout.split('\n')[0]).toBe('CPU 1: VM->VF 0,1,2  VF->VM 0,1,2');
    const movesSoFar = sched.lines(/moving relay/).length;
    const gens2 = traffic(dir, BOUND, PPS);
    await sched.waitFor(/moving relay/, movesSoFar + 1);
    expectLossless(await gens2.finish());
    expect(new Set((await placement(fwd)).flatMap((p) => p.split(':')[1]?.split(',') ?? [])).size).toBeGreaterThanOrEqual(2);
    expect(sched.lines(/^<[0-3]>/)).toEqual([]);
    console.log(`the scheduler's journal, notices and warnings:\n${sched.lines(/^<[45]>/).join('\n')}`);
  });
});
