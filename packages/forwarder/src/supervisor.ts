// virtio-forwarder: runs the dataplane, keeps the desired relay state and
// serves the ZeroMQ endpoints that drive it.
import fs from 'node:fs';
import path from 'node:path';
import {
  parsePciAddress,
  PortControlOp,
  PortControlStatus,
  StatsStatus,
  wire,
  type Config,
  type Logger,
  type PortControlRequest,
  type PortControlResponse,
  type StatsRequest,
  type StatsResponse,
} from '@vio4wd/common';
import { DataplaneProcess, describeExit } from './dataplane-process.js';
import { PortControl, type RelayDriver } from './port-control.js';
import { RelayTable, toDataplaneRequest, type RelaySpec } from './relay-table.js';
import { answerStats } from './stats.js';
import { ZmqServer } from './zmq-server.js';

const EBADMSG = 74;

function ipcDir(endpoint: string): string | undefined {
  return endpoint.startsWith('ipc://') ? path.dirname(endpoint.slice('ipc://'.length)) : undefined;
}

export class Supervisor {
  readonly table = new RelayTable();
  private readonly dataplane: DataplaneProcess;
  private readonly servers: ZmqServer<unknown, unknown>[] = [];
  private stopping = false;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.dataplane = new DataplaneProcess(config, log);
  }

  private get client() {
    const c = this.dataplane.client;
    if (!c) throw new Error('the dataplane is not running');
    return c;
  }

  private readonly driver: RelayDriver = {
    addRelay: async (spec: RelaySpec) => {
      if (!spec.vhostClient) fs.mkdirSync(path.dirname(spec.vhostPath), { recursive: true });
      await this.client.addRelay(toDataplaneRequest(spec));
    },
    removeRelay: async (id: number) => this.client.removeRelay(id),
  };

  /** Start everything; resolves once the endpoints serve. */
  async start(): Promise<void> {
    const c = this.config;
    for (const dir of [path.dirname(c.controlSocket), ipcDir(c.zmqPortControlEp), ipcDir(c.zmqStatsEp)])
      if (dir) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    await this.dataplane.start();
    void this.dataplane.exit.then((info) => this.onDataplaneExit(describeExit(info)));

    const portControl = new PortControl(c, this.table, this.driver, this.log);
    for (const vf of c.staticVfs) {
      const addr = parsePciAddress(vf.pci);
      if (!addr) throw new Error(`static VF ${vf.pci}: not a PCI address`);
      const res = await portControl.handle({ op: PortControlOp.ADD, pci_addrs: [addr], virtio_id: vf.virtioId, conditional: false });
      if (res.status !== PortControlStatus.OK)
        throw new Error(`static VF ${vf.pci}=${vf.virtioId}: ${res.error_code_source ?? 'refused'}`);
    }

    const portServer = new ZmqServer<PortControlRequest, PortControlResponse>(c.zmqPortControlEp, {
      name: 'port control',
      decode: (f) => wire.PortControlRequest.decode(f),
      encode: (r) => wire.PortControlResponse.encode(r),
      handle: (r) => portControl.handle(r),
      errorReply: (reason) => ({ status: PortControlStatus.ERROR, error_code: EBADMSG, error_code_source: reason }),
    }, this.log);
    const statsServer = new ZmqServer<StatsRequest, StatsResponse>(c.zmqStatsEp, {
      name: 'stats',
      decode: (f) => wire.StatsRequest.decode(f),
      encode: (r) => wire.StatsResponse.encode(r),
      handle: (r) => answerStats(r, this.client, this.table),
      errorReply: () => ({ status: StatsStatus.EBADR, relay: [] }),
    }, this.log);
    for (const s of [portServer, statsServer]) {
      await s.start();
      this.servers.push(s as ZmqServer<unknown, unknown>);
    }
    this.writePidFile();
    this.log.notice(`ready: ${this.table.all().length} relay(s), vhost-user ${c.vhostClient ? 'client' : 'server'} mode`);
  }

  private onDataplaneExit(how: string): void {
    if (this.stopping) return;
    // Until crash recovery lands, a dead dataplane ends the service and
    // systemd restarts it (Restart=on-failure).
    this.log.crit(`dataplane died (${how}); exiting so that the service restarts`);
    void this.stop().finally(() => process.exit(1));
  }

  private get pidFile(): string {
    return path.join(this.config.pidDir, 'virtio-forwarder.pid');
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
    this.log.notice('stopping');
    for (const s of this.servers) await s.stop();
    const info = await this.dataplane.stop();
    if (info) this.log.info(`dataplane stopped (${describeExit(info)})`);
    fs.rmSync(this.pidFile, { force: true });
  }
}
