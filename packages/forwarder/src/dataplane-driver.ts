// What port control and CPU migration do to the running dataplane. Requests
// that arrive while the dataplane restarts wait for it; relays the retry
// timer still holds are not in the dataplane and are settled here.
import type { DataplaneClient } from '@vio4wd/common';
import type { CpuDriver } from './core-sched-endpoint.js';
import type { DataplaneProcess } from './dataplane-process.js';
import type { RelayDriver } from './port-control.js';
import { pciDriverProblem } from './preflight.js';
import { ENODEV, Refusal } from './refusal.js';
import { toDataplaneRequest, type RelaySpec } from './relay-table.js';
import type { UnpluggedRelays } from './unplugged.js';

export class DataplaneDriver implements RelayDriver, CpuDriver {
  /** Settles when the dataplane runs with every relay restored. */
  recovering: Promise<void> = Promise.resolve();
  /** Times each relay was plugged into a dataplane: its counters there start from zero each time. */
  readonly plugs = new Map<number, number>();

  constructor(
    private readonly dataplane: DataplaneProcess,
    private readonly unplugged: Pick<UnpluggedRelays, 'has' | 'clear'>,
  ) {}

  get running(): boolean {
    return this.dataplane.client !== null;
  }

  get client(): DataplaneClient {
    const c = this.dataplane.client;
    if (!c) throw new Error('the dataplane is not running');
    return c;
  }

  /** Plugs a relay now (no waiting for a restart): the restore and the retry timer call this. */
  async plug(spec: RelaySpec): Promise<void> {
    const noDriver = pciDriverProblem(spec.devices);
    if (noDriver) throw new Refusal(ENODEV, noDriver);
    await this.client.addRelay(toDataplaneRequest(spec));
    this.plugs.set(spec.id, (this.plugs.get(spec.id) ?? 0) + 1);
  }

  async addRelay(spec: RelaySpec): Promise<void> {
    await this.recovering;
    await this.plug(spec);
  }

  async removeRelay(spec: RelaySpec): Promise<void> {
    await this.recovering;
    // Not plugged: not in the dataplane, and no longer to be retried.
    if (this.unplugged.clear(spec.id)) return;
    await this.client.removeRelay(spec.id, toDataplaneRequest(spec));
  }

  async setCpu(id: number, cpu: [number, number], moved?: () => void): Promise<void> {
    await this.recovering;
    // Not plugged yet: the relay gets these CPUs when it is.
    if (this.unplugged.has(id)) return;
    await this.client.setCpu(id, cpu, moved);
  }

  async relayCpus(): Promise<Map<number, [number, number]>> {
    await this.recovering;
    const stats = await this.client.stats();
    return new Map(stats.relays.map((r) => [r.id, r.cpu]));
  }
}
