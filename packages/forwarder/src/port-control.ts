// Port control (ZeroMQ PortControlRequest) as the original daemon answers
// it: validation rules, conditional semantics, error code and source.
import {
  allowedSocketDirs,
  formatPciAddress,
  isValidPciAddress,
  MAX_RELAYS,
  PortControlOp,
  PortControlStatus,
  pathRuleBroken,
  shownPath,
  socketPathFor,
  vhostPathProblem,
  type Config,
  type Logger,
  type PortControlRequest,
  type PortControlResponse,
  type StaticVf,
} from '@vio4wd/common';
import { LogLimiter, REFUSALS_LOGGED } from './log-limit.js';
import { explainDenied } from './sandbox-hint.js';
import { EACCES, EEXIST, EINVAL, ENOENT, ENOSPC, ENOTSUP, Refusal, refusalOf } from './refusal.js';
import { identNote, identProblem, sameRelay, vfLabel, type BondSpec, type RelaySpec, type RelayTable } from './relay-table.js';

/** What port control needs of the dataplane (a process, or a fake in unit tests). */
export interface RelayDriver {
  addRelay(spec: RelaySpec): Promise<void>;
  /** Removes the relay; should the dataplane do it after a time-out, it adds spec back. */
  removeRelay(spec: RelaySpec): Promise<void>;
}


const ok = (query?: string): PortControlResponse =>
  query === undefined ? { status: PortControlStatus.OK } : { status: PortControlStatus.OK, query_string: query };

export class PortControl {
  constructor(
    private readonly config: Pick<Config, 'socketDir' | 'vhostSocketDirs' | 'socketFnamePattern' | 'vhostClient' | 'dynamicSockets' | 'deviceAliases' | 'cpuPins'>,
    private readonly table: RelayTable,
    private readonly driver: RelayDriver,
    private readonly log: Logger,
    /** Server mode: what would keep QEMU from reaching a socket the relay made (a warning, after the add). */
    private readonly unreachable: (sock: string) => string | undefined = () => undefined,
  ) {
    this.refusals = new LogLimiter(log, 'port control: refused requests', REFUSALS_LOGGED);
  }

  private readonly refusals: LogLimiter;

  async handle(req: PortControlRequest): Promise<PortControlResponse> {
    try {
      return await this.dispatch(req);
    } catch (e) {
      const { code, reason } = refusalOf(e);
      return this.refuse(code, reason);
    }
  }

  private refuse(code: number, message: string): PortControlResponse {
    this.refusals.warning(`port control: ${message}`);
    return { status: PortControlStatus.ERROR, error_code: code, error_code_source: message };
  }

  private pciList(req: PortControlRequest): string[] {
    return req.pci_addrs.map((a) => {
      if (!isValidPciAddress(a)) throw new Refusal(EINVAL, `malformed PCI address ${JSON.stringify(a)}`);
      return formatPciAddress(a);
    });
  }

  /** The VF(s) to relay: one PCI address, or a bond of several with its name and mode. */
  private vfs(req: PortControlRequest, op: string): { pcis: string[]; bond?: BondSpec } {
    const pcis = this.pciList(req);
    if (pcis.length === 0) throw new Refusal(EINVAL, `${op} needs a PCI address`);
    if (new Set(pcis).size !== pcis.length) throw new Refusal(EINVAL, `${op}: a PCI address is given twice`);
    if (pcis.length === 1) return { pcis };
    if (!req.name) throw new Refusal(EINVAL, `${op}: a bond (several PCI addresses) needs a bond name (--name)`);
    if (!/^[A-Za-z0-9_.:-]{1,63}$/.test(req.name))
      throw new Refusal(EINVAL, `bond name '${req.name}' must be 1-63 letters, digits, _ . : or -`);
    if (pcis.length > 8) throw new Refusal(EINVAL, `a bond takes at most 8 VFs, not ${pcis.length}`);
    const mode = req.mode ?? 1;
    if (mode > 6) throw new Refusal(EINVAL, `bond mode ${mode} is outside 0-6`);
    return { pcis, bond: { name: req.name, mode } };
  }

  private onePci(req: PortControlRequest, op: string): string {
    const pcis = this.pciList(req);
    if (pcis.length > 1) throw new Refusal(EINVAL, `${op}: give one PCI address (of the bond's members, any)`);
    const pci = pcis[0];
    if (pci === undefined) throw new Refusal(EINVAL, `${op} needs a PCI address`);
    return pci;
  }

  private checkVirtioId(req: PortControlRequest, op: string): number {
    if (req.virtio_id === undefined) throw new Refusal(EINVAL, `${op} needs a virtio id`);
    if (req.virtio_id >= MAX_RELAYS) throw new Refusal(EINVAL, `virtio id ${req.virtio_id} is outside 0-${MAX_RELAYS - 1}`);
    return req.virtio_id;
  }

  /**
   * A socket path to look up (remove_sock, query_pci) must be well formed;
   * one a relay will bind or connect to (add_sock) must also be in an
   * allowed directory.
   */
  private checkVhostPath(path: string | undefined, op: string, placed = false): string {
    if (!path) throw new Refusal(EINVAL, `${op} needs a vhost-user socket path`);
    const rule = pathRuleBroken(path);
    if (rule) throw new Refusal(EINVAL, `${op}: vhost-user socket path ${shownPath(path)} ${rule}`);
    const problem = placed ? vhostPathProblem(path, allowedSocketDirs(this.config)) : undefined;
    if (problem) throw new Refusal(EACCES, `${op}: ${problem}`);
    return path;
  }

  /** The identity an add or add_sock gives its relay, if any, checked. */
  private checkIdent(req: PortControlRequest, op: string): string | undefined {
    if (req.ident === undefined) return undefined;
    const problem = identProblem(req.ident);
    if (problem) throw new Refusal(EINVAL, `${op}: the relay's identity ${JSON.stringify(req.ident)} ${problem}`);
    return req.ident;
  }

  private spec(id: number, vfs: { pcis: string[]; bond?: BondSpec }, vhostPath: string, origin: RelaySpec['origin'], ident?: string): RelaySpec {
    const pin = this.config.cpuPins.find((p) => p.relay === id);
    const spec: RelaySpec = {
      id,
      pcis: vfs.pcis,
      devices: vfs.pcis.map((pci) => this.config.deviceAliases.get(pci) ?? pci),
      vhostPath,
      vhostClient: this.config.vhostClient,
      origin,
    };
    if (vfs.bond) spec.bond = vfs.bond;
    if (pin) spec.cpu = [pin.vfToVm, pin.vmToVf];
    if (ident !== undefined) spec.ident = ident;
    return spec;
  }

  /** The relay of a static VF of the config (already checked by the config reader). */
  staticSpec(vf: StaticVf): RelaySpec {
    return this.spec(vf.virtioId, { pcis: [vf.pci] }, socketPathFor(this.config, vf.virtioId), 'static');
  }

  private async add(spec: RelaySpec, conditional: boolean): Promise<PortControlResponse> {
    const same = this.table.get(spec.id);
    if (same && sameRelay(same, spec) && conditional) return ok();
    if (same) throw new Refusal(EEXIST, `relay ${spec.id} already exists (VF ${vfLabel(same)}, socket ${same.vhostPath}` +
      `${same.ident !== undefined ? `, identity ${JSON.stringify(same.ident)}` : ''})`);
    for (const pci of spec.pcis) {
      const byPci = this.table.byPci(pci);
      if (byPci) throw new Refusal(EEXIST, `VF ${pci} is already relayed by relay ${byPci.id}`);
    }
    const byPath = this.table.byVhostPath(spec.vhostPath);
    if (byPath) throw new Refusal(EEXIST, `vhost-user socket ${spec.vhostPath} is already used by relay ${byPath.id}`);
    try {
      await this.table.setWhile(spec, () => this.driver.addRelay(spec));
    } catch (e) {
      throw explainDenied(e, spec.devices);
    }
    this.log.info(`relay ${spec.id}${identNote(spec)} added: VF ${vfLabel(spec)} <-> ${spec.vhostPath}`);
    const problem = spec.vhostClient ? undefined : this.unreachable(spec.vhostPath);
    if (problem) this.log.warning(`relay ${spec.id}: ${problem}`);
    return ok();
  }

  private async remove(spec: RelaySpec): Promise<PortControlResponse> {
    await this.table.deleteWhile(spec.id, () => this.driver.removeRelay(spec));
    this.log.info(`relay ${spec.id}${identNote(spec)} removed: VF ${vfLabel(spec)} <-> ${spec.vhostPath}`);
    return ok();
  }

  private async dispatch(req: PortControlRequest): Promise<PortControlResponse> {
    switch (req.op) {
      case PortControlOp.ADD: {
        const id = this.checkVirtioId(req, 'add');
        const ident = this.checkIdent(req, 'add');
        return this.add(this.spec(id, this.vfs(req, 'add'), socketPathFor(this.config, id), 'add', ident), req.conditional);
      }
      case PortControlOp.REMOVE: {
        const id = this.checkVirtioId(req, 'remove');
        const pcis = this.pciList(req);
        if (pcis.length > 1 && !req.name) throw new Refusal(EINVAL, 'remove: several PCI addresses need the bond name');
        const relay = this.table.get(id);
        if (!relay) {
          if (req.conditional) return ok();
          throw new Refusal(ENOENT, `relay ${id} does not exist`);
        }
        if (pcis.length > 0 && (pcis.some((p) => !relay.pcis.includes(p)) || (pcis.length > 1 && req.name !== relay.bond?.name)))
          throw new Refusal(EINVAL, `relay ${id} relays VF ${vfLabel(relay)}, not ${req.name ? `bond ${req.name} ` : ''}${pcis.join(', ')}`);
        return this.remove(relay);
      }
      case PortControlOp.ADD_SOCK: {
        if (req.virtio_id !== undefined) this.log.warning('add_sock: the virtio id is ignored for socket pairs');
        if (!this.config.dynamicSockets) throw new Refusal(ENOTSUP, 'add_sock needs VIRTIOFWD_DYNAMIC_SOCKETS=true');
        const path = this.checkVhostPath(req.vhost_path, 'add_sock', true);
        const vfs = this.vfs(req, 'add_sock');
        const ident = this.checkIdent(req, 'add_sock');
        const existing = this.table.byVhostPath(path);
        const id = existing?.id ?? this.table.freeId();
        if (id === undefined) throw new Refusal(ENOSPC, `all ${MAX_RELAYS} relays are in use`);
        // add() answers a conditional repeat (same VF, same socket) with OK.
        return this.add(this.spec(id, vfs, path, 'add_sock', ident), req.conditional);
      }
      case PortControlOp.REMOVE_SOCK: {
        if (req.virtio_id !== undefined) this.log.warning('remove_sock: the virtio id is ignored for socket pairs');
        if (!this.config.dynamicSockets) throw new Refusal(ENOTSUP, 'remove_sock needs VIRTIOFWD_DYNAMIC_SOCKETS=true');
        const path = req.vhost_path ? this.checkVhostPath(req.vhost_path, 'remove_sock') : undefined;
        const pci = req.pci_addrs.length ? this.onePci(req, 'remove_sock') : undefined;
        if (!path && !pci) throw new Refusal(EINVAL, 'remove_sock needs a vhost-user socket path or a PCI address');
        const byPath = path ? this.table.byVhostPath(path) : undefined;
        const byPci = pci ? this.table.byPci(pci) : undefined;
        const relay = byPath ?? byPci;
        if (path && pci && byPath !== byPci)
          throw new Refusal(EINVAL, `socket ${path} and VF ${pci} are not relayed together`);
        if (!relay) {
          if (req.conditional) return ok();
          throw new Refusal(ENOENT, `no relay uses ${path ?? pci}`);
        }
        return this.remove(relay);
      }
      case PortControlOp.QUERY_PCI: {
        const path = this.checkVhostPath(req.vhost_path, 'query_pci');
        const relay = this.table.byVhostPath(path);
        if (!relay) throw new Refusal(ENOENT, `no relay uses ${path}`);
        return ok(relay.pcis.join(','));
      }
      default:
        throw new Refusal(EINVAL, `unknown port control op ${req.op}`);
    }
  }
}

