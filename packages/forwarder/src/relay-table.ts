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
  /** Who the relay serves, as port control was told (--ident). */
  ident?: string;
}

export class RelayTable {
  private readonly relays = new Map<number, RelaySpec>();

  /** persist sees every relay after each change (to save them; it says itself when it cannot). */
  constructor(private readonly persist: (relays: RelaySpec[]) => void = () => undefined) {}

  get(id: number): RelaySpec | undefined {
    return this.relays.get(id);
  }

  all(): RelaySpec[] {
    return sorted(this.relays);
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
    this.persist(this.all());
  }

  delete(id: number): void {
    if (this.relays.delete(id)) this.persist(this.all());
  }

  /**
   * Adds a relay that `work` (the dataplane's part) must first take. The new
   * state is saved while work runs: work's request is sent first, then the
   * file is written while the dataplane does its part, so that a reply waits
   * for the longer of the two rather than both one after the other. The
   * table changes when work succeeds; when it fails, the saved state is put
   * back and its error thrown.
   */
  setWhile(spec: RelaySpec, work: () => Promise<void>): Promise<void> {
    return this.changeWhile(new Map(this.relays).set(spec.id, spec), work, () => this.set(spec));
  }

  /** Removes a relay that `work` must first let go of, as setWhile. */
  deleteWhile(id: number, work: () => Promise<void>): Promise<void> {
    const after = new Map(this.relays);
    after.delete(id);
    return this.changeWhile(after, work, () => this.delete(id));
  }

  private async changeWhile(after: Map<number, RelaySpec>, work: () => Promise<void>, change: () => void): Promise<void> {
    const done = work();
    done.catch(() => undefined); // its error is thrown below, once the file is written
    // Until work's promise chain has sent its request (or waits its turn behind another).
    await new Promise((resolve) => setImmediate(resolve));
    this.persist(sorted(after));
    try {
      await done;
    } catch (e) {
      this.persist(this.all());
      throw e;
    }
    // The state just saved, so not saved again, unless another change came meanwhile.
    change();
  }
}

function sorted(relays: Map<number, RelaySpec>): RelaySpec[] {
  return [...relays.values()].sort((a, b) => a.id - b.id);
}

export function toDataplaneRequest(spec: RelaySpec): AddRelayRequest {
  const req: AddRelayRequest = { id: spec.id, vf: spec.devices.join(';'), vhostPath: spec.vhostPath, vhostClient: spec.vhostClient };
  if (spec.cpu) req.cpu = spec.cpu;
  if (spec.bond) req.bond = spec.bond;
  const ident = shownIdent(spec);
  if (ident !== undefined) req.ident = ident;
  return req;
}

/** Whether two specs are the same relay: the same VF(s) on the same socket. */
export function sameRelay(a: RelaySpec, b: RelaySpec): boolean {
  return vfLabel(a) === vfLabel(b) && a.vhostPath === b.vhostPath && a.ident === b.ident;
}

/** The longest identity a relay may be given, in UTF-8 bytes. */
export const IDENT_MAX_BYTES = 128;

/** What is wrong with an identity string, if anything: 1-128 bytes of UTF-8, no control characters, no space at either end. */
export function identProblem(ident: string): string | undefined {
  if (ident === '') return 'is empty';
  if (Buffer.byteLength(ident, 'utf8') > IDENT_MAX_BYTES) return `is longer than ${IDENT_MAX_BYTES} bytes`;
  if (/\p{Cc}|\p{Cs}|\uFFFD/u.test(ident)) return 'holds a control character or invalid UTF-8';
  if (ident.trim() !== ident) return 'begins or ends with white space';
  return undefined;
}

/**
 * A relay's identity: the one it was given; else what its socket's name
 * says (OpenStack's os-vif names vhost-user sockets "vhu" + the first 11
 * characters of the Neutron port's id: "neutron:<those 11>"); else its
 * bond's name; else undefined (the dataplane's port name serves).
 */
export function relayIdent(spec: Pick<RelaySpec, 'ident' | 'vhostPath' | 'bond'>): string | undefined {
  if (spec.ident !== undefined) return spec.ident;
  const m = /^vhu([0-9a-f]{8}-[0-9a-f]{2})$/.exec(spec.vhostPath.slice(spec.vhostPath.lastIndexOf('/') + 1));
  if (m) return `neutron:${m[1] ?? ''}`;
  return spec.bond?.name;
}

/** The identity messages about a relay add (its bond's name is said already, where it has one). */
function shownIdent(spec: Pick<RelaySpec, 'ident' | 'vhostPath' | 'bond'>): string | undefined {
  const ident = relayIdent(spec);
  return ident === spec.bond?.name ? undefined : ident;
}

/** " (IDENT)" for log lines about a relay that has one; "" otherwise. */
export function identNote(spec: Pick<RelaySpec, 'ident' | 'vhostPath' | 'bond'>): string {
  const ident = shownIdent(spec);
  return ident === undefined ? '' : ` (${ident})`;
}

/** How a relay's VF reads in logs and replies. */
export function vfLabel(spec: RelaySpec): string {
  return spec.bond ? `bond ${spec.bond.name} (${spec.pcis.join(', ')})` : (spec.pcis[0] ?? '?');
}
