// A real virtio-forwarder (supervisor + dataplane) in a scratch directory,
// with its own config file, endpoints and DPDK file prefix.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, execaSync, type ResultPromise } from 'execa';
import { wire, zmqRequest, type StatsResponse } from '@vio4wd/common';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DATAPLANE = path.join(ROOT, 'build/dataplane/vio4wd-dataplane');
export const FORWARDER_BIN = path.join(ROOT, 'packages/forwarder/dist/bin.js');
export const PORTCTL_BIN = path.join(ROOT, 'packages/portctl/dist/bin.js');
export const STATS_BIN = path.join(ROOT, 'packages/stats/dist/bin.js');

export interface ForwarderOptions {
  vhostClient: boolean;
  /** Extra NAME=value lines. */
  extra?: string[];
  /** Back the dataplane with 2M hugepages (from hugetlbfsMount()) instead of --no-huge. */
  hugepages?: boolean;
}

/** CI reserves hugepages and sets this; elsewhere tests run without them. */
export const TEST_HUGEPAGES = process.env.VIO4WD_TEST_HUGEPAGES === '1';

/** Free 2M hugepages on this host (a test that needs many uses them only if there are enough). */
export function freeHugepages(): number {
  try {
    return Number(fs.readFileSync('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', 'utf8'));
  } catch {
    return 0;
  }
}

/** The hugetlbfs mounts of 2M pages on this host, as /proc/mounts lists them. */
export function hugetlbfs2M(mounts = fs.readFileSync('/proc/mounts', 'utf8')): string[] {
  return mounts.split('\n').map((l) => l.split(' ')).filter((f) => f[2] === 'hugetlbfs' && /(^|,)pagesize=2M(,|$)/.test(f[3] ?? ''))
    // /proc/mounts escapes a space, tab, newline or backslash in a path as octal.
    .map((f) => (f[1] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
}

let ownMount: string | undefined;

/**
 * Where a test's dataplane takes its 2M hugepages from: a hugetlbfs the host
 * has mounted (CI's /mnt/huge, systemd's /dev/hugepages, wherever), or else
 * one this test process mounts for itself (and unmounts when it exits).
 * Each dataplane has its own file prefix, so sharing a mount is safe.
 */
export function hugetlbfsMount(): string {
  const host = hugetlbfs2M()[0];
  if (host !== undefined) return host;
  if (ownMount === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v4-huge-'));
    execaSync('mount', ['-t', 'hugetlbfs', '-o', 'pagesize=2M', 'nodev', dir]);
    ownMount = dir;
    process.once('exit', () => {
      try {
        execaSync('umount', ['-l', dir]);
        fs.rmdirSync(dir);
      } catch {
        // left for the host's tmp cleaner
      }
    });
  }
  return ownMount;
}

export class Forwarder {
  private out = '';
  private proc: ResultPromise<{ stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }> | null = null;

  constructor(
    readonly dir: string,
    readonly configPath: string,
  ) {}

  static scratch(tag: string): string {
    // Short: vhost-user and memif socket paths must stay under 108 bytes.
    return fs.mkdtempSync(path.join(os.tmpdir(), `v4-${tag}-`));
  }

  static write(dir: string, opts: ForwarderOptions): Forwarder {
    const lines = [
      'VIRTIOFWD_CPU_MASK=1',
      'VIRTIOFWD_MASTER_LCORE=0',
      'VIRTIOFWD_LOG_LEVEL=6',
      'VIRTIOFWD_DYNAMIC_SOCKETS=true',
      `VIRTIOFWD_VHOST_CLIENT=${String(opts.vhostClient)}`,
      `VIRTIOFWD_SOCKET_DIR=${dir}/vhost`,
      // Tests put sockets in the scratch directory too.
      `VIO4WD_VHOST_SOCKET_DIRS=(${dir})`,
      `VIRTIOFWD_ZMQ_PORT_CONTROL_EP=ipc://${dir}/port_control`,
      `VIRTIOFWD_ZMQ_STATS_EP=ipc://${dir}/stats`,
      `VIRTIOFWD_BINARY=${DATAPLANE}`,
      `VIRTIOFWD_PID_DIR=${dir}`,
      `VIO4WD_STATE_DIR=${dir}/state`,
      `VIO4WD_CONTROL_SOCKET=${dir}/dataplane.sock`,
      ...(opts.hugepages ? ['VIO4WD_NO_HUGE=false', `VIRTIOFWD_HUGETLBFS_MOUNT_POINT=${hugetlbfsMount()}`] : ['VIO4WD_NO_HUGE=true', 'VIO4WD_MEMORY_MB=512']),
      `VIO4WD_EAL_FILE_PREFIX=vio4wd-${path.basename(dir)}`,
      // Not the default ports: another forwarder (an installed one, say) may have them.
      `VIO4WD_METRICS_EP=unix:${dir}/metrics.sock`,
      `VIO4WD_CORE_SCHED_METRICS_EP=unix:${dir}/sched-metrics.sock`,
      ...(opts.extra ?? []),
    ];
    const configPath = path.join(dir, 'virtioforwarder');
    fs.writeFileSync(configPath, `${lines.join('\n')}\n`);
    return new Forwarder(dir, configPath);
  }

  get portControlEp(): string {
    return `ipc://${this.dir}/port_control`;
  }

  /** The metrics endpoint, as a test's scrape takes it. */
  get metricsEp(): string {
    return `unix:${this.dir}/metrics.sock`;
  }

  get statsEp(): string {
    return `ipc://${this.dir}/stats`;
  }

  get log(): string {
    return this.out;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(timeoutMs = 30000, env: Record<string, string> = {}): Promise<void> {
    const proc = execa('node', [FORWARDER_BIN, '--config', this.configPath], {
      env,
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
    });
    this.proc = proc;
    proc.stdout.on('data', (d: Buffer) => {
      this.out += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      this.out += d.toString();
    });
    let exited = false;
    void proc.then(() => {
      exited = true;
    });
    const deadline = Date.now() + timeoutMs;
    while (!/virtio-forwarder: ready/.test(this.out)) {
      if (exited) throw new Error(`virtio-forwarder exited during start-up:\n${this.out}`);
      if (Date.now() > deadline) throw new Error(`virtio-forwarder not ready within ${timeoutMs} ms:\n${this.out}`);
      await sleep(50);
    }
  }

  /** Signals the supervisor and returns its exit code (SIGKILL after 15 s). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | undefined> {
    const proc = this.proc;
    if (!proc) return undefined;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15000);
    const r = await proc;
    clearTimeout(timer);
    this.proc = null;
    return r.exitCode;
  }

  /** Waits (at most timeoutMs) for the supervisor to exit by itself, and returns its exit code. */
  async exitCode(timeoutMs = 15000): Promise<number | undefined> {
    const proc = this.proc;
    if (!proc) return undefined;
    const r = await Promise.race([proc, sleep(timeoutMs).then(() => null)]);
    if (!r) throw new Error(`virtio-forwarder still running after ${timeoutMs} ms:\n${this.out.slice(-2000)}`);
    this.proc = null;
    return r.exitCode;
  }

  /** The pid of the dataplane the supervisor started last (from its log). */
  get dataplanePid(): number {
    const all = [...this.out.matchAll(/dataplane pid (\d+) ready/g)];
    const last = all[all.length - 1];
    if (!last?.[1]) throw new Error('no dataplane pid in the log');
    return Number(last[1]);
  }

  /** Runs the real vio4wd-portctl CLI against this forwarder. */
  async portctl(...args: string[]) {
    return execa('node', [PORTCTL_BIN, ...args, '--zmq_ep', this.portControlEp], { reject: false });
  }

  async stats(delay = 0): Promise<StatsResponse> {
    return wire.StatsResponse.decode(await zmqRequest(this.statsEp, wire.StatsRequest.encode({ relay: [], include_inactive: true, delay }), 5000));
  }

  /** Waits until a relay reports a connected VM (or not). */
  async waitConnected(id: number, connected = true, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = (await this.stats()).relay.find((x) => x.id === id);
      if (r && r.active === connected) return;
      if (Date.now() > deadline) throw new Error(`relay ${id} not ${connected ? 'connected' : 'disconnected'} within ${timeoutMs} ms:\n${this.out.slice(-3000)}`);
      await sleep(100);
    }
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes what DPDK leaves in /var/run/dpdk for a file prefix. */
export function cleanDpdkRuntime(prefix: string): void {
  fs.rmSync(`/var/run/dpdk/${prefix}`, { recursive: true, force: true });
}
