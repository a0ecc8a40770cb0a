// The supervisor's desired state: which relays exist, with which VF and
// vhost-user socket. It is the source of truth the dataplane is driven
// from (and, after a dataplane restart, rebuilt from).
import { MAX_RELAYS, type AddRelayRequest } from '@vio4wd/common';

export type RelayOrigin = 'static' | 'add' | 'add_sock';

export interface BondSpec {
  name: string;
  /** 0-6, as DPDK's bonding driver (1: active-backup). */
  mode: number;
}

export interface RelaySpec {
  id: number;
  /** The VF as the user named it (a PCI address); a bond's members. */
  pcis: string[];
  /** What the dataplane is given for each: the PCI address or aliased device arguments. */
  devices: string[];
  bond?: BondSpec;
  vhostPath: string;
  vhostClient: boolean;
  origin: RelayOrigin;
  cpu?: [number, number];
}

export class RelayTable {
  private readonly relays = new Map<number, RelaySpec>();

  /** onChange sees every relay after each change (to persist them). */
  constructor(private readonly onChange: (relays: RelaySpec[]) => void = () => undefined) {}

  get(id: number): RelaySpec | undefined {
    return this.relays.get(id);
  }

  all(): RelaySpec[] {
    return [...this.relays.values()].sort((a, b) => a.id - b.id);
  }

  byPci(pci: string): RelaySpec | undefined {
    return this.all().find((r) => r.pcis.includes(pci));
  }

  byVhostPath(path: string): RelaySpec | undefined {
    return this.all().find((r) => r.vhostPath === path);
  }

  /** Lowest relay id not in use, or undefined when all 64 are taken. */
  freeId(): number | undefined {
    for (let id = 0; id < MAX_RELAYS; id++) if (!this.relays.has(id)) return id;
    return undefined;
  }

  set(spec: RelaySpec): void {
    this.relays.set(spec.id, spec);
    this.onChange(this.all());
  }

  delete(id: number): void {
    if (this.relays.delete(id)) this.onChange(this.all());
  }
}

export function toDataplaneRequest(spec: RelaySpec): AddRelayRequest {
  const req: AddRelayRequest = { id: spec.id, vf: spec.devices.join(';'), vhostPath: spec.vhostPath, vhostClient: spec.vhostClient };
  if (spec.cpu) req.cpu = spec.cpu;
  if (spec.bond) req.bond = spec.bond;
  return req;
}

/** Whether two specs are the same relay: the same VF(s) on the same socket. */
export function sameRelay(a: RelaySpec, b: RelaySpec): boolean {
  return vfLabel(a) === vfLabel(b) && a.vhostPath === b.vhostPath;
}

/** How a relay's VF reads in logs and replies. */
export function vfLabel(spec: RelaySpec): string {
  return spec.bond ? `bond ${spec.bond.name} (${spec.pcis.join(', ')})` : (spec.pcis[0] ?? '?');
}
