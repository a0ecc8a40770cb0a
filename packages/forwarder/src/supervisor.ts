// virtio-forwarder: runs the dataplane, keeps the desired relay state and
// serves the ZeroMQ endpoints that drive it.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipcPath, serveMetrics, type Config, type Logger } from '@vio4wd/common';
import { keepOffWorkers } from './affinity.js';
import { CoreSched } from './core-sched-endpoint.js';
import { DataplaneDriver } from './dataplane-driver.js';
import { DataplaneProcess, describeExit } from './dataplane-process.js';
import { configEndpoint, coreSchedEndpoint, portControlEndpoint, statsEndpoint } from './endpoints.js';
import { ForwarderMetrics } from './metrics.js';
import { PidFile } from './pid-file.js';
import { PortControl } from './port-control.js';
import { explainDenied } from './sandbox-hint.js';
import type { SocketIds } from './socket-owner.js';
import { bindOrRefuse, directoryProblems, makeDirs, preflight, PreflightError, serverSocketReach } from './preflight.js';
import { RestartPolicy } from './restart-policy.js';
import { identNote, RelayTable, sameRelay, toDataplaneRequest, vfLabel, type RelaySpec } from './relay-table.js';
import { ServiceStatus } from './service-status.js';
import { StateFile } from './state-file.js';
import { answerStats, sharedSamples, type StatsSource } from './stats-endpoint.js';
import { UnpluggedRelays } from './unplugged.js';
import { ZmqServer, type ZmqEndpoint } from './zmq-server.js';

/** A served endpoint, whatever its messages. */
interface Served {
  start(group?: number): Promise<void>;
  stop(): Promise<void>;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Supervisor {
  readonly table: RelayTable;
  private readonly state: StateFile;
  private readonly dataplane: DataplaneProcess;
  private readonly driver: DataplaneDriver;
  private readonly unplugged: UnpluggedRelays;
  private readonly restarts = new RestartPolicy();
  private readonly status: ServiceStatus;
  private readonly pidFile: PidFile;
  private readonly servers: Served[] = [];
  private stopping = false;
  private readySince = 0;
  readonly metrics: ForwarderMetrics;
  /** The dataplane's counters, shared by concurrent stats requests and scrapes. */
  private readonly samples: StatsSource;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.dataplane = new DataplaneProcess(config, log);
    this.state = new StateFile(path.join(config.stateDir, 'relays.json'), log);
    this.unplugged = new UnpluggedRelays((id) => this.retry(id));
    this.driver = new DataplaneDriver(this.dataplane, this.unplugged);
    this.table = new RelayTable((all) => this.persist(all));
    this.pidFile = new PidFile(config.pidDir);
    this.samples = sharedSamples(async (ids) => this.driver.client.stats(ids));
    this.metrics = new ForwarderMetrics({
      desired: () => this.table.all(),
      unplugged: (id) => this.unplugged.reasons.get(id),
      sample: async () => (this.driver.running ? this.samples.stats() : undefined),
      generation: () => this.dataplane.starts,
      plugs: (id) => this.driver.plugs.get(id) ?? 0,
      dpdkRelease: () => this.dataplane.dpdkRelease,
    });
    this.status = new ServiceStatus(
      () => `${this.table.all().length} relay(s), vhost-user ${config.vhostClient ? 'client' : 'server'} mode`,
      () => this.dataplane.client,
      log,
    );
  }

  private persist(all: RelaySpec[]): void {
    this.status.refresh();
    try {
      this.state.save(all.filter((r) => r.origin !== 'static'));
    } catch (e) {
      this.log.error(`cannot save relay state to ${this.state.file}: ${String(e)}; ` +
        'a supervisor restart would not bring back the relays changed since');
    }
  }

  /** VIRTIOFWD_SOCKET_OWNER/GROUP, resolved at start. */
  private owners: SocketIds | undefined;

  /** Start everything; resolves once the endpoints serve. */
  async start(): Promise<void> {
    const c = this.config;
    const running = this.pidFile.running();
    if (running !== undefined)
      throw new Error(`virtio-forwarder is already running with this configuration (pid ${running}, ${this.pidFile.file}); not starting a second one`);
    // Read before anything starts: an unreadable state file stops us here
    // (unless its directory is the problem: the pre-flight check says so).
    const owners = await this.dataplane.socketIds();
    this.owners = owners;
    const saved = directoryProblems(c, owners).length ? [] : this.state.load();
    const portControl = new PortControl(c, this.table, this.driver, this.log, (sock) => serverSocketReach(sock, owners, c));
    const statics = c.staticVfs.map((vf) => portControl.staticSpec(vf));
    // Under systemd, virtio-forwarder-bind-vfio.service has done this outside the sandbox (ProtectKernelTunables makes /sys read-only here).
    await bindOrRefuse(c, this.log);
    const checked = preflight(c, [...statics, ...saved].map((s) => ({ devices: s.devices, bond: s.bond !== undefined })), '/', owners);
    for (const n of checked.notes) this.log.info(n);
    for (const w of checked.warnings) this.log.warning(`pre-flight: ${w}`);
    if (checked.errors.length) throw new PreflightError(checked.errors);

    const coreSched = new CoreSched(c.cpuMask, this.table, this.driver, this.log);
    const serve = <Req, Rep>(address: string, endpoint: ZmqEndpoint<Req, Rep>): Served =>
      new ZmqServer(address, endpoint, this.log, this.fatal, this.metrics.observeRequest);
    const servers: Served[] = [
      serve(c.zmqPortControlEp, portControlEndpoint(portControl)),
      serve(c.zmqStatsEp, statsEndpoint((r) => answerStats(r, this.samples, this.table, this.unplugged.reasons))),
      ...(c.coreSchedEnable ? [serve(c.zmqCoreSchedEp, coreSchedEndpoint(coreSched))] : []),
      ...(c.zmqConfigEp !== '' ? [serve(c.zmqConfigEp, configEndpoint(coreSched))] : []),
    ];
    const endpoints = [c.zmqPortControlEp, c.zmqStatsEp, ...(c.coreSchedEnable ? [c.zmqCoreSchedEp] : []), c.zmqConfigEp];
    for (const dir of [path.dirname(c.controlSocket), ...endpoints.map((e) => ipcPath(e)).map((p) => (p === undefined ? undefined : path.dirname(p)))])
      if (dir) makeDirs(dir, 0o755);

    // Bound before the dataplane starts: a port taken by another program stops the start here, saying so.
    this.servers.push(await serveMetrics(c.metricsEp, () => this.metrics.scrape(), this.log, 'VIO4WD_METRICS_EP'));

    await keepOffWorkers(c, this.log);
    await this.dataplane.start();
    this.watchDataplane();
    await this.restore(statics, saved);

    const { gid } = owners;
    for (const s of servers) {
      await s.start(gid ?? undefined);
      this.servers.push(s);
    }
    this.pidFile.write(this.log);
    this.readySince = Date.now();
    await this.status.announce();
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
      await this.driver.plug(spec);
      // Removed (or replaced) by port control while this retry was plugging it: take it out again.
      const now = this.table.get(spec.id);
      if (!now || !sameRelay(now, spec)) {
        await this.driver.client.removeRelay(spec.id, toDataplaneRequest(spec));
        this.unplugged.clear(spec.id);
        return false;
      }
      this.unplugged.clear(spec.id);
      this.log.info(`${what} ${spec.id}${identNote(spec)} plugged: VF ${vfLabel(spec)} <-> ${spec.vhostPath}`);
      const problem = spec.vhostClient || !this.owners ? undefined : serverSocketReach(spec.vhostPath, this.owners, this.config);
      if (problem) this.log.warning(`${what} ${spec.id}: ${problem}`);
      return true;
    } catch (e) {
      const why = errorText(explainDenied(e, spec.devices));
      if (this.unplugged.mark(spec.id, why))
        this.log.error(`${what} ${spec.id}${identNote(spec)} (VF ${vfLabel(spec)} <-> ${spec.vhostPath}) not plugged: ${why}; ` +
          `trying again every ${this.unplugged.periodMs / 1000} s (vio4wd-portctl remove drops it)`);
      return false;
    }
  }

  /** The retry timer's turn for one relay. */
  private async retry(id: number): Promise<void> {
    await this.driver.recovering;
    if (this.stopping) return;
    const spec = this.table.get(id);
    if (!spec) this.unplugged.clear(id);
    else if (this.driver.running) await this.plugOrRetry(spec, 'relay');
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
    const next = this.restarts.exited(ran);
    if (next.giveUp) {
      this.giveUp(`dataplane died (${how}) ${next.count} times in a row within ${this.restarts.limits.stableMs} ms of a restart`);
      return;
    }
    const delay = next.delayMs;
    this.metrics.dataplaneRestarts.inc();
    this.log.crit(`dataplane died (${how}) after ${ran} ms; restarting it${delay ? ` in ${delay} ms` : ''}`);
    this.driver.recovering = this.recover(delay, died);
  }

  /** Starts a new dataplane and replays every relay of the desired state into it. */
  private async recover(delay: number, died: number): Promise<void> {
    for (let failures = 1; ; failures++) {
      await sleep(delay);
      if (this.stopping) return;
      try {
        await this.dataplane.start();
        break;
      } catch (e) {
        const next = this.restarts.startFailed(failures);
        if (next.giveUp) {
          this.giveUp(`dataplane failed to start ${next.count} times: ${errorText(e)}`);
          return;
        }
        delay = next.delayMs;
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
    this.metrics.relaysRestored.inc(restored);
    this.readySince = Date.now();
    this.log.notice(`dataplane restarted: ${restored}/${relays.length} relay(s) restored ${this.readySince - died} ms after it died`);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unplugged.stop();
    this.status.stop();
    this.log.notice('stopping');
    for (const s of this.servers) await s.stop();
    const info = await this.dataplane.stop();
    if (info) this.log.info(`dataplane stopped (${describeExit(info)})`);
    this.pidFile.remove();
  }
}
