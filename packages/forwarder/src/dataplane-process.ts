// The vio4wd-dataplane child process: EAL arguments from the config,
// start-up until its control socket answers, clean stop.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { allowedSocketDirs, DataplaneClient, type Config, type Logger } from '@vio4wd/common';
import { resolveSocketIds, socketIdArgs, type SocketIds } from './socket-owner.js';

/** DPDK's default VFIO VF token, used when VIRTIOFWD_VFIO_VF_TOKEN=0. */
export const DEFAULT_VF_TOKEN = '14d63f20-8445-11ea-8900-1f9ce7d5650d';
const START_TIMEOUT_MS = 30000;
const STOP_TIMEOUT_MS = 10000;
/** How long a stop waits for the dataplane to answer 'shutdown' before it signals. */
const SHUTDOWN_WAIT_MS = 3000;

export function ealArgs(config: Config): string[] {
  const workers = config.cpuMask.filter((c) => c !== config.masterLcore);
  // Normally lcore N runs on CPU N. VIO4WD_WORKER_CPUS runs every worker
  // lcore on the CPUs it names (more workers than CPUs: small test hosts).
  const lcores = config.workerCpus.length === 0
    ? ['-l', [config.masterLcore, ...workers].join(',')]
    : ['--lcores', `${config.masterLcore}@${config.masterLcore},(${workers.join(',')})@(${config.workerCpus.join(',')})`];
  const args = [...lcores, '--main-lcore', String(config.masterLcore), '--file-prefix', config.eal.filePrefix];
  // Probe no PCI device at start-up (an allow-list naming none): VFs are
  // hot-plugged one by one as relays are added, and other devices bound to
  // vfio-pci on the host are left alone.
  args.push('-a', '0000:00:00.0');
  if (config.eal.noHuge) args.push('--no-huge', '-m', String(config.eal.memoryMb));
  // Unlinked hugepage files: nothing is left behind, even after a kill -9.
  else args.push('--huge-dir', config.hugetlbfsMountPoint, '--huge-unlink');
  // No DPDK telemetry socket (/var/run/dpdk/<prefix>/dpdk_telemetry.v2):
  // nothing reads it, the stats endpoint serves the counters, and without it
  // DPDK logs a warning on every start ("No legacy callbacks, legacy socket
  // not created") that operators would be paged for.
  args.push('--no-telemetry');
  // DPDK levels are syslog priorities + 1; vhost-user chatter only when debugging.
  args.push(`--log-level=${config.logLevel + 1}`);
  if (config.logLevel < 7) args.push(`--log-level=lib.vhost.*:${Math.min(config.logLevel, 4) + 1}`);
  if (config.vfioVfToken !== null)
    args.push('--vfio-vf-token', config.vfioVfToken === '0' ? DEFAULT_VF_TOKEN : config.vfioVfToken);
  args.push(...config.eal.extraArgs);
  return args;
}

export function dataplaneArgs(config: Config, socketIds: SocketIds = { uid: null, gid: null }): string[] {
  const flags = [...(config.jumbo ? ['--jumbo'] : []), ...(config.mergeableBuffers ? ['--mrgbuf'] : []), ...(config.tso ? ['--tso'] : [])];
  return [...ealArgs(config), '--', '--control-socket', config.controlSocket, '--idle-sleep-us', String(config.idleSleepUs),
    '--idle-poll-us', String(config.idlePollUs), '--hold-us', String(config.holdUs),
    ...flags, ...socketIdArgs(socketIds), ...allowedSocketDirs(config).flatMap((d) => ['--vhost-dir', d])];
}

export interface ExitInfo {
  code: number | undefined;
  signal: string | undefined;
}

export class DataplaneProcess {
  private child: ResultPromise | null = null;
  private exited: Promise<ExitInfo> | null = null;
  client: DataplaneClient | null = null;
  /** DPDK's release, as the running dataplane says. */
  dpdkRelease = 'unknown';
  /** Dataplanes started so far: which one answers now (counters start again with each). */
  starts = 0;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves when the process exits, whatever the reason. */
  get exit(): Promise<ExitInfo> {
    if (!this.exited) throw new Error('dataplane not started');
    return this.exited;
  }

  private ids: SocketIds | undefined;

  /** The socket owner and group of the config, looked up once (a warning for a missing name, once). */
  async socketIds(): Promise<SocketIds> {
    this.ids ??= await resolveSocketIds(this.config.socketOwner, this.config.socketGroup, this.log);
    return this.ids;
  }

  async start(): Promise<DataplaneClient> {
    // After a crash: the old connection is dead.
    this.client?.close();
    this.client = null;
    const args = dataplaneArgs(this.config, await this.socketIds());
    this.log.info(`starting ${this.config.dataplaneBinary} ${args.join(' ')}`);
    fs.rmSync(this.config.controlSocket, { force: true });
    const child = execa(this.config.dataplaneBinary, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      buffer: false,
      reject: false,
      cleanup: true,
    });
    this.child = child;
    this.exited = child.then((r) => ({ code: r.exitCode, signal: r.signal }));
    let gone = false;
    void this.exited.then(() => {
      gone = true;
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (gone) {
        const info = await this.exited;
        throw new Error(`dataplane exited during start-up (${describeExit(info)}); see its log lines above`);
      }
      if (fs.existsSync(this.config.controlSocket)) {
        const client = new DataplaneClient(this.config.controlSocket, {
          timeoutMs: this.config.dataplaneTimeoutMs,
          report: (level, message) => this.log[level](message),
          onStuck: () => {
            this.log.error(`killing the dataplane (pid ${String(child.pid)}): it stopped answering; it is restarted with every relay`);
            child.kill('SIGKILL');
          },
        });
        try {
          await client.connect();
          const hello = await client.hello();
          this.log.info(`dataplane pid ${hello.pid} ready, workers on lcores ${hello.workers.map((w) => w.lcore).join(',')}`);
          this.client = client;
          this.dpdkRelease = hello.dpdk ?? 'unknown';
          this.starts++;
          return client;
        } catch {
          client.close();
        }
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`dataplane did not open ${this.config.controlSocket} within ${START_TIMEOUT_MS / 1000} s`);
      }
      await sleep(50);
    }
  }

  /** Asks the dataplane to shut down, then signals, then kills. */
  async stop(): Promise<ExitInfo | undefined> {
    const child = this.child;
    if (!child || !this.exited) return undefined;
    try {
      // Not the whole request time-out: the unit gives a stop 20 s (TimeoutStopSec).
      if (this.client) await Promise.race([this.client.shutdown(), sleep(SHUTDOWN_WAIT_MS).then(() => Promise.reject(new Error('no answer')))]);
    } catch {
      child.kill('SIGTERM');
    }
    this.client?.close();
    this.client = null;
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const info = await this.exited;
    clearTimeout(timer);
    this.child = null;
    return info;
  }
}

export function describeExit(info: ExitInfo): string {
  return info.signal ? `killed by ${info.signal}` : `exit code ${String(info.code)}`;
}
