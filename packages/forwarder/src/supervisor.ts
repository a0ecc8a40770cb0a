// virtio-forwarder: runs the dataplane, keeps the desired relay state and
// serves the ZeroMQ endpoints that drive it.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConfigStatus,
  CoreSchedStatus,
  PortControlStatus,
  StatsStatus,
  wire,
  type Config,
  type ConfigRequest,
  type ConfigResponse,
  type CoreSchedRequest,
  type CoreSchedResponse,
  type Logger,
  type PortControlRequest,
  type PortControlResponse,
  type StatsRequest,
  type StatsResponse,
} from '@vio4wd/common';
import { CoreSched, type CpuDriver } from './core-sched.js';
import { DataplaneProcess, describeExit } from './dataplane-process.js';
import { PortControl, type RelayDriver } from './port-control.js';
import { directoryProblems, makeDirs, pciDriverProblem, preflight, PreflightError } from './preflight.js';
import { ENODEV, Refusal } from './refusal.js';
import { RelayTable, sameRelay, toDataplaneRequest, vfLabel, type RelaySpec } from './relay-table.js';
import { StateFile } from './state-file.js';
import { answerStats, sharedSamples } from './stats.js';
import { ZmqServer } from './zmq-server.js';

const EBADMSG = 74;

/** A served ZeroMQ endpoint, whatever its messages. */
interface Endpoint {
  start(group?: number): Promise<void>;
  stop(): Promise<void>;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function ipcDir(endpoint: string): string | undefined {
  return endpoint.startsWith('ipc://') ? path.dirname(endpoint.slice('ipc://'.length)) : undefined;
}

/* A dataplane that dies sooner than this after its relays were restored is unstable. */
const STABLE_MS = 1000;
/* Restart delays after consecutive unstable runs: 0, then 250 ms doubling to 8 s. */
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 8000;
/* Consecutive unstable runs or failed starts before the supervisor gives up. */
const GIVE_UP_AFTER = 6;
/* How often relays of the desired state that could not be plugged are tried again. */
const RETRY_MS = 5000;

export class Supervisor {
  readonly table: RelayTable;
  private readonly state: StateFile;
  private readonly dataplane: DataplaneProcess;
  private readonly servers: Endpoint[] = [];
  private stopping = false;
  /** Settles when the dataplane runs with every relay restored; port control waits for it. */
  private recovering: Promise<void> = Promise.resolve();
  private readySince = 0;
  private unstable = 0;
  /** Relays of the desired state the dataplane could not take (why), tried again every RETRY_MS. */
  private readonly unplugged = new Map<number, string>();
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.dataplane = new DataplaneProcess(config, log);
    this.state = new StateFile(path.join(config.stateDir, 'relays.json'), log);
    this.table = new RelayTable((all) => this.persist(all));
  }

  private persist(all: RelaySpec[]): void {
    this.refreshStatus();
    try {
      this.state.save(all.filter((r) => r.origin !== 'static'));
    } catch (e) {
      this.log.error(`cannot save relay state to ${this.state.file}: ${String(e)}; ` +
        'a supervisor restart would not bring back the relays changed since');
    }
  }

  private get client() {
    const c = this.dataplane.client;
    if (!c) throw new Error('the dataplane is not running');
    return c;
  }

  private async plug(spec: RelaySpec): Promise<void> {
    const noDriver = pciDriverProblem(spec.devices);
    if (noDriver) throw new Refusal(ENODEV, noDriver);
    await this.client.addRelay(toDataplaneRequest(spec));
  }

  // Requests that arrive while the dataplane restarts wait for it.
  private readonly driver: RelayDriver = {
    addRelay: async (spec: RelaySpec) => {
      await this.recovering;
      await this.plug(spec);
    },
    removeRelay: async (id: number) => {
      await this.recovering;
      // Not plugged: not in the dataplane, and no longer to be retried.
      if (this.unplugged.delete(id)) return;
      await this.client.removeRelay(id);
    },
  };

  private readonly cpuDriver: CpuDriver = {
    setCpu: async (id, cpu) => {
      await this.recovering;
      // Not plugged yet: the relay gets these CPUs when it is.
      if (this.unplugged.has(id)) return;
      await this.client.setCpu(id, cpu);
    },
    relayCpus: async () => {
      await this.recovering;
      const stats = await this.client.stats();
      return new Map(stats.relays.map((r) => [r.id, r.cpu]));
    },
  };

  /** Start everything; resolves once the endpoints serve. */
  async start(): Promise<void> {
    const c = this.config;
    const running = this.runningInstance();
    if (running !== undefined)
      throw new Error(`virtio-forwarder is already running with this configuration (pid ${running}, ${this.pidFile}); not starting a second one`);
    // Read before anything starts: an unreadable state file stops us here
    // (unless its directory is the problem: the pre-flight check says so).
    const saved = directoryProblems(c).length ? [] : this.state.load();
    const portControl = new PortControl(c, this.table, this.driver, this.log);
    const statics = c.staticVfs.map((vf) => portControl.staticSpec(vf));
    const checked = preflight(c, [...statics, ...saved].map((s) => ({ devices: s.devices, bond: s.bond !== undefined })));
    for (const n of checked.notes) this.log.info(n);
    if (checked.errors.length) throw new PreflightError(checked.errors);
    const endpoints = [c.zmqPortControlEp, c.zmqStatsEp, ...(c.coreSchedEnable ? [c.zmqCoreSchedEp] : []), c.zmqConfigEp];
    for (const dir of [path.dirname(c.controlSocket), ...endpoints.map(ipcDir)])
      if (dir) makeDirs(dir, 0o755);
    await this.dataplane.start();
    this.watchDataplane();

    await this.restore(statics, saved);

    const portServer = new ZmqServer<PortControlRequest, PortControlResponse>(c.zmqPortControlEp, {
      name: 'port control',
      serial: true,
      decode: (f) => wire.PortControlRequest.decode(f),
      encode: (r) => wire.PortControlResponse.encode(r),
      handle: (r) => portControl.handle(r),
      errorReply: (reason) => ({ status: PortControlStatus.ERROR, error_code: EBADMSG, error_code_source: reason }),
    }, this.log, this.fatal);
    const samples = sharedSamples(async (ids) => this.client.stats(ids));
    const statsServer = new ZmqServer<StatsRequest, StatsResponse>(c.zmqStatsEp, {
      name: 'stats',
      decode: (f) => wire.StatsRequest.decode(f),
      encode: (r) => wire.StatsResponse.encode(r),
      handle: (r) => answerStats(r, samples, this.table, this.unplugged),
      errorReply: () => ({ status: StatsStatus.EBADR, relay: [], worker: [] }),
    }, this.log, this.fatal);
    const servers: Endpoint[] = [portServer, statsServer];
    const coreSched = new CoreSched(c.cpuMask, this.table, this.cpuDriver, this.log);
    if (c.coreSchedEnable) {
      servers.push(new ZmqServer<CoreSchedRequest, CoreSchedResponse>(c.zmqCoreSchedEp, {
        name: 'core scheduling',
        serial: true,
        decode: (f) => wire.CoreSchedRequest.decode(f),
        encode: (r) => wire.CoreSchedResponse.encode(r),
        handle: (r) => coreSched.handle(r),
        errorReply: (reason) => ({ status: CoreSchedStatus.ERROR, error_code: EBADMSG, error_code_source: reason, eal_cores: [] }),
      }, this.log, this.fatal));
    }
    if (c.zmqConfigEp !== '') {
      servers.push(new ZmqServer<ConfigRequest, ConfigResponse>(c.zmqConfigEp, {
        name: 'config',
        serial: true,
        decode: (f) => wire.ConfigRequest.decode(f),
        encode: (r) => wire.ConfigResponse.encode(r),
        handle: () => coreSched.relayCpuMap(),
        errorReply: () => ({ status: ConfigStatus.EBADR, relay_cpu_map: [] }),
      }, this.log, this.fatal));
    }
    const { gid } = await this.dataplane.socketIds();
    for (const s of servers) {
      await s.start(gid ?? undefined);
      this.servers.push(s);
    }
    this.writePidFile();
    this.readySince = Date.now();
    const status = this.statusText();
    this.log.notice(`ready: ${status}`);
    await this.notifyReady(status);
  }

  private statusText(): string {
    return `${this.table.all().length} relay(s), vhost-user ${this.config.vhostClient ? 'client' : 'server'} mode`;
  }

  /**
   * Once ready, the Status= that systemctl status shows follows the number
   * of relays (READY=1 again with it: harmless to a running service). Best
   * effort: a dataplane that is restarting is told at its next ready.
   */
  private refreshStatus(): void {
    const client = this.dataplane.client;
    if (!process.env.NOTIFY_SOCKET || this.readySince === 0 || this.stopping || !client) return;
    client.notifyReady(this.statusText()).catch((e: unknown) => this.log.debug(`Status= not updated: ${errorText(e)}`));
  }

  /**
   * READY=1 for systemd (Type=notify, NotifyAccess=all), once the endpoints
   * serve. The dataplane sends it: Node.js has no unix datagram sockets.
   */
  private async notifyReady(status: string): Promise<void> {
    if (!process.env.NOTIFY_SOCKET) return;
    try {
      if (await this.client.notifyReady(status)) this.log.debug('readiness reported to the service manager');
      else this.log.warning('NOTIFY_SOCKET is set but the dataplane did not see it; readiness not reported');
    } catch (e) {
      this.log.error(`cannot report readiness to the service manager: ${errorText(e)}`);
    }
  }

  /**
   * Static relays, then those added at run time before the supervisor last
   * stopped. Each stays in the desired state even if the dataplane cannot
   * take it now (a VF not bound yet, say): it is tried again until it can.
   */
  private async restore(statics: RelaySpec[], saved: RelaySpec[]): Promise<void> {
    for (const spec of statics) {
      this.table.set(spec);
      await this.plugOrRetry(spec, 'static relay');
    }
    for (const spec of saved) {
      const clash = this.table.get(spec.id) ?? this.table.byVhostPath(spec.vhostPath) ??
        spec.pcis.map((p) => this.table.byPci(p)).find((r) => r !== undefined);
      if (clash) {
        this.log.warning(`saved relay ${spec.id} (${vfLabel(spec)}) clashes with static relay ${clash.id}; not restored`);
        continue;
      }
      this.table.set(spec);
      await this.plugOrRetry(spec, 'saved relay');
    }
  }

  /** Plugs a relay of the desired state, or leaves it to the retry timer, saying why. */
  private async plugOrRetry(spec: RelaySpec, what: string): Promise<boolean> {
    try {
      await this.plug(spec);
      // Removed (or replaced) by port control while this retry was plugging it: take it out again.
      const now = this.table.get(spec.id);
      if (!now || !sameRelay(now, spec)) {
        await this.client.removeRelay(spec.id);
        this.unplugged.delete(spec.id);
        return false;
      }
      this.unplugged.delete(spec.id);
      this.log.info(`${what} ${spec.id} plugged: VF ${vfLabel(spec)} <-> ${spec.vhostPath}`);
      return true;
    } catch (e) {
      const why = errorText(e);
      if (this.unplugged.get(spec.id) !== why)
        this.log.error(`${what} ${spec.id} (VF ${vfLabel(spec)} <-> ${spec.vhostPath}) not plugged: ${why}; ` +
          `trying again every ${RETRY_MS / 1000} s (vio4wd-portctl remove drops it)`);
      this.unplugged.set(spec.id, why);
      this.retryTimer ??= setInterval(() => void this.retryUnplugged(), RETRY_MS);
      return false;
    }
  }

  private retrying = false;

  private async retryUnplugged(): Promise<void> {
    if (this.retrying || this.stopping) return;
    this.retrying = true;
    try {
      await this.recovering;
      for (const id of [...this.unplugged.keys()]) {
        const spec = this.table.get(id);
        if (!spec) this.unplugged.delete(id);
        else if (this.dataplane.client) await this.plugOrRetry(spec, 'relay');
      }
      if (this.unplugged.size === 0 && this.retryTimer) {
        clearInterval(this.retryTimer);
        this.retryTimer = null;
      }
    } finally {
      this.retrying = false;
    }
  }

  private watchDataplane(): void {
    void this.dataplane.exit.then((info) => this.onDataplaneExit(describeExit(info)));
  }

  private readonly fatal = (why: string) => this.giveUp(why);

  private giveUp(why: string): void {
    this.log.crit(`${why}; giving up (the service manager may restart virtio-forwarder)`);
    void this.stop().finally(() => process.exit(1));
  }

  private onDataplaneExit(how: string): void {
    if (this.stopping) return;
    const died = Date.now();
    const ran = died - this.readySince;
    this.unstable = ran < STABLE_MS ? this.unstable + 1 : 0;
    if (this.unstable >= GIVE_UP_AFTER) {
      this.giveUp(`dataplane died (${how}) ${this.unstable} times in a row within ${STABLE_MS} ms of a restart`);
      return;
    }
    const delay = this.unstable === 0 ? 0 : Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (this.unstable - 1));
    this.log.crit(`dataplane died (${how}) after ${ran} ms; restarting it${delay ? ` in ${delay} ms` : ''}`);
    this.recovering = this.recover(delay, died);
  }

  /** Starts a new dataplane and replays every relay of the desired state into it. */
  private async recover(delay: number, died: number): Promise<void> {
    for (let failures = 0; ; failures++) {
      await sleep(delay);
      if (this.stopping) return;
      try {
        await this.dataplane.start();
        break;
      } catch (e) {
        if (failures + 1 >= GIVE_UP_AFTER) {
          this.giveUp(`dataplane failed to start ${failures + 1} times: ${errorText(e)}`);
          return;
        }
        delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** failures);
        this.log.error(`dataplane restart failed: ${errorText(e)}; trying again in ${delay} ms`);
      }
    }
    if (this.stopping) {
      await this.dataplane.stop();
      return;
    }
    this.watchDataplane();
    const relays = this.table.all();
    let restored = 0;
    for (const spec of relays) if (await this.plugOrRetry(spec, 'relay')) restored++;
    this.readySince = Date.now();
    this.log.notice(`dataplane restarted: ${restored}/${relays.length} relay(s) restored ${this.readySince - died} ms after it died`);
  }

  private get pidFile(): string {
    return path.join(this.config.pidDir, 'virtio-forwarder.pid');
  }

  /** The pid of a live virtio-forwarder named by our PID file, if any (a stale file is ignored). */
  private runningInstance(): number | undefined {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
    try {
      // Alive, and a node process running this service (not a recycled pid).
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return cmdline.some((a) => /virtio-forwarder|forwarder\/dist\/bin\.js$/.test(a)) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private writePidFile(): void {
    try {
      fs.mkdirSync(this.config.pidDir, { recursive: true });
      fs.writeFileSync(this.pidFile, `${process.pid}\n`);
    } catch (e) {
      this.log.warning(`cannot write PID file ${this.pidFile}: ${String(e)}`);
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.log.notice('stopping');
    for (const s of this.servers) await s.stop();
    const info = await this.dataplane.stop();
    if (info) this.log.info(`dataplane stopped (${describeExit(info)})`);
    // Only our own: a second instance that failed to start leaves the first one's alone.
    try {
      if (fs.readFileSync(this.pidFile, 'utf8').trim() === String(process.pid)) fs.rmSync(this.pidFile, { force: true });
    } catch {
      // no PID file
    }
  }
}
