// The CPU-migration endpoint (ZeroMQ CoreSchedRequest) that the load
// balancer drives, and the config endpoint (ConfigRequest) that reports
// where each relay runs.
import {
  ConfigStatus,
  CoreSchedOp,
  CoreSchedStatus,
  MAX_RELAYS,
  type ConfigResponse,
  type CoreSchedRequest,
  type CoreSchedResponse,
  type Logger,
  type RelayCpu,
} from '@vio4wd/common';
import { LogLimiter, REFUSALS_LOGGED } from './log-limit.js';
import { EINVAL, ENOENT, Refusal, refusalOf } from './refusal.js';
import type { RelayTable } from './relay-table.js';

/** What CPU migration needs of the dataplane. */
export interface CpuDriver {
  /** Moves relay id's directions to [VF->VM, VM->VF]; moved: it did so after all, past its time-out. */
  setCpu(id: number, cpu: [number, number], moved?: () => void): Promise<void>;
  /** Where every relay of the dataplane runs now: [VF->VM, VM->VF]. */
  relayCpus(): Promise<Map<number, [number, number]>>;
}


export class CoreSched {
  constructor(
    /** The worker CPUs (VIRTIOFWD_CPU_MASK): the only CPUs a relay may move to. */
    private readonly workers: readonly number[],
    private readonly table: RelayTable,
    private readonly driver: CpuDriver,
    private readonly log: Logger,
  ) {
    this.refusals = new LogLimiter(log, 'core scheduling: refused requests', REFUSALS_LOGGED);
  }

  private readonly refusals: LogLimiter;

  async handle(req: CoreSchedRequest): Promise<CoreSchedResponse> {
    try {
      if (req.op === CoreSchedOp.GET_EAL_CORES) return { status: CoreSchedStatus.OK, eal_cores: [...this.workers] };
      await this.update(req.relay_cpu_map);
      return { status: CoreSchedStatus.OK, eal_cores: [] };
    } catch (e) {
      const { code, reason } = refusalOf(e);
      return this.refuse(code, reason);
    }
  }

  private refuse(code: number, message: string): CoreSchedResponse {
    this.refusals.warning(`core scheduling: ${message}`);
    return { status: CoreSchedStatus.ERROR, error_code: code, error_code_source: message, eal_cores: [] };
  }

  private checkCpu(cpu: number, relay: number, dir: string): void {
    if (!this.workers.includes(cpu))
      throw new Refusal(EINVAL, `relay ${relay}: ${dir} CPU ${cpu} is not a worker CPU (VIRTIOFWD_CPU_MASK: ${this.workers.join(',')})`);
  }

  /** All entries are checked before any relay moves: a bad entry moves nothing. */
  private async update(map: RelayCpu[]): Promise<void> {
    const seen = new Set<number>();
    for (const m of map) {
      const id = m.relay_number;
      if (id < 0 || id >= MAX_RELAYS) throw new Refusal(EINVAL, `relay number ${id} is outside 0-${MAX_RELAYS - 1}`);
      if (seen.has(id)) throw new Refusal(EINVAL, `relay ${id} is named twice`);
      seen.add(id);
      if (!this.table.get(id)) throw new Refusal(ENOENT, `relay ${id} does not exist`);
      this.checkCpu(m.vf2virtio_cpu, id, 'VF->VM');
      this.checkCpu(m.virtio2vf_cpu, id, 'VM->VF');
    }
    for (const m of map) {
      const cpu: [number, number] = [m.vf2virtio_cpu, m.virtio2vf_cpu];
      // Remembered, so that a dataplane restart puts the relay back here.
      const remember = () => {
        const spec = this.table.get(m.relay_number);
        if (spec) this.table.set({ ...spec, cpu });
      };
      await this.driver.setCpu(m.relay_number, cpu, remember);
      remember();
      this.log.info(`relay ${m.relay_number} moved to CPUs ${cpu[0]},${cpu[1]}`);
    }
  }

  /** The config endpoint's answer: each relay and its CPUs. */
  async relayCpuMap(): Promise<ConfigResponse> {
    const cpus = await this.driver.relayCpus();
    const map = [...cpus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([id, [vf2vm, vm2vf]]) => ({ relay_number: id, vf2virtio_cpu: vf2vm, virtio2vf_cpu: vm2vf }));
    return { status: ConfigStatus.OK, relay_cpu_map: map };
  }
}
