// VIRTIOFWD_BIND_VFIO_PCI: the devices to hand to vfio-pci before the
// dataplane starts, as the original's pre-start script does. Entries are a
// PCI address (0000:01:02.3, or 01:02.3 in domain 0000), a netdev (all of
// its VFs, found by its virtfn* links) or netdev:N (its first N VFs by PCI
// address). Everything is checked before anything is written: a device
// that is not there, a netdev with too few VFs, an IOMMU group shared with
// a device on another driver, an interface that is up with an address; any
// of these and nothing is bound. A device already on vfio-pci is left
// alone. Nothing is unbound on stop.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { errorCode, type BindEntry } from '@vio4wd/common';

/** Drivers vfio-pci tolerates on the other devices of an IOMMU group (bridges, stubs). */
const GROUP_SAFE = new Set(['vfio-pci', 'pci-stub', 'pcieport']);

export interface BindHost {
  /** Where sysfs is mounted under: '/' on a host; a tree of files in tests. */
  root: string;
  /** One sysfs write (the kernel acts on it). */
  write(file: string, text: string): void;
  modprobe(module: string): Promise<void>;
  /** The addresses of an interface, link-local ones left out. */
  addresses(ifname: string): string[];
}

export const realHost: BindHost = {
  root: '/',
  write: (file, text) => fs.writeFileSync(file, text),
  modprobe: async (module) => {
    await execa('modprobe', [module]);
  },
  addresses: (ifname) =>
    (os.networkInterfaces()[ifname] ?? []).filter((a) => !(a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80'))).map((a) => a.address),
};

/** check: found before anything was written (nothing bound); bind: the kernel refused. */
export class BindError extends Error {
  constructor(
    readonly problems: string[],
    readonly stage: 'check' | 'bind' = 'check',
  ) {
    super(problems.join('\n'));
  }
}

const VAR = 'VIRTIOFWD_BIND_VFIO_PCI';

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function linkName(link: string): string | undefined {
  try {
    return path.basename(fs.readlinkSync(link));
  } catch {
    return undefined;
  }
}

const byPciAddress = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

class Sysfs {
  constructor(readonly root: string) {}

  pciDir(addr: string): string {
    return path.join(this.root, 'sys/bus/pci/devices', addr);
  }

  driverOf(addr: string): string | undefined {
    return linkName(path.join(this.pciDir(addr), 'driver'));
  }

  groupOf(addr: string): string | undefined {
    return linkName(path.join(this.pciDir(addr), 'iommu_group'));
  }

  groupMembers(group: string): string[] {
    return fs.readdirSync(path.join(this.root, 'sys/kernel/iommu_groups', group, 'devices')).sort(byPciAddress);
  }

  /** The VFs of a netdev's device, by PCI address; undefined when there is no such netdev. */
  vfsOf(netdev: string): string[] | undefined {
    const dev = path.join(this.root, 'sys/class/net', netdev, 'device');
    if (!fs.existsSync(path.join(this.root, 'sys/class/net', netdev))) return undefined;
    let names: string[];
    try {
      names = fs.readdirSync(dev).filter((n) => /^virtfn\d+$/.test(n));
    } catch {
      return [];
    }
    return names.map((n) => linkName(path.join(dev, n))).filter((a): a is string => a !== undefined).sort(byPciAddress);
  }

  /** The network interfaces a PCI device has now (its kernel driver made them). */
  netdevsOf(addr: string): string[] {
    try {
      return fs.readdirSync(path.join(this.pciDir(addr), 'net'));
    } catch {
      return [];
    }
  }

  isUp(ifname: string): boolean {
    const flags = readText(path.join(this.root, 'sys/class/net', ifname, 'flags'));
    return flags !== undefined && (Number.parseInt(flags, 16) & 1) === 1;
  }

  ids(addr: string): string {
    const id = (f: string) => (readText(path.join(this.pciDir(addr), f)) ?? '?').replace(/^0x/, '');
    return `${id('vendor')}:${id('device')}`;
  }
}

interface Planned {
  addr: string;
  entry: string;
  driver: string | undefined;
}

/** The devices of the entries, each once, with every problem found. */
function plan(entries: BindEntry[], sys: Sysfs, host: BindHost, force: boolean, notes: string[]): { devices: Planned[]; problems: string[] } {
  const problems: string[] = [];
  const devices = new Map<string, Planned>();
  for (const e of entries) {
    let addrs: string[];
    if ('pci' in e) {
      if (!fs.existsSync(sys.pciDir(e.pci))) {
        problems.push(`${VAR}: ${e.text}: there is no PCI device ${e.pci} (lspci -D lists those there are)`);
        continue;
      }
      addrs = [e.pci];
    } else {
      const vfs = sys.vfsOf(e.netdev);
      if (vfs === undefined) {
        problems.push(`${VAR}: ${e.text}: there is no network device ${e.netdev}`);
        continue;
      }
      if (vfs.length === 0) {
        problems.push(`${VAR}: ${e.text}: ${e.netdev} has no VFs (create them: echo N > /sys/class/net/${e.netdev}/device/sriov_numvfs)`);
        continue;
      }
      if (e.count !== undefined && vfs.length < e.count) {
        problems.push(`${VAR}: ${e.text}: ${e.netdev} has ${vfs.length} VF${vfs.length === 1 ? '' : 's'}, fewer than the ${e.count} asked for`);
        continue;
      }
      addrs = vfs.slice(0, e.count ?? vfs.length);
    }
    for (const addr of addrs) if (!devices.has(addr)) devices.set(addr, { addr, entry: e.text, driver: sys.driverOf(addr) });
  }
  for (const d of devices.values()) {
    if (d.driver === 'vfio-pci') continue;
    const group = sys.groupOf(d.addr);
    if (group === undefined) {
      problems.push(`${VAR}: ${d.entry}: ${d.addr} is in no IOMMU group: the kernel runs without an IOMMU ` +
        '(enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on or amd_iommu=on)');
      continue;
    }
    for (const other of sys.groupMembers(group)) {
      if (devices.has(other)) continue;
      const drv = sys.driverOf(other);
      if (drv !== undefined && !GROUP_SAFE.has(drv))
        problems.push(`${VAR}: ${d.entry}: ${d.addr} shares IOMMU group ${group} with ${other}, which is bound to ${drv}: ` +
          `vfio-pci needs every device of the group on vfio-pci or on no driver (add ${other} to ${VAR}, or unbind it)`);
    }
    for (const ifname of sys.netdevsOf(d.addr)) {
      const addresses = sys.isUp(ifname) ? host.addresses(ifname) : [];
      if (addresses.length === 0) continue;
      const what = `${d.addr} is ${ifname}, which is up with address ${addresses.join(', ')}`;
      if (force) notes.push(`${VAR}: ${d.entry}: ${what}: taken from the kernel all the same (VIO4WD_BIND_VFIO_PCI_FORCE=true)`);
      else problems.push(`${VAR}: ${d.entry}: ${what}: not taken from the kernel while in use (take it down, or set VIO4WD_BIND_VFIO_PCI_FORCE=true)`);
    }
  }
  return { devices: [...devices.values()], problems };
}

async function ensureVfioPci(sys: Sysfs, host: BindHost): Promise<string | undefined> {
  const driverDir = path.join(sys.root, 'sys/bus/pci/drivers/vfio-pci');
  if (fs.existsSync(driverDir)) return undefined;
  try {
    await host.modprobe('vfio-pci');
  } catch (e) {
    return `${VAR}: cannot load vfio-pci (modprobe vfio-pci: ${e instanceof Error ? e.message.split('\n').pop() : String(e)})`;
  }
  return fs.existsSync(driverDir) ? undefined : `${VAR}: modprobe vfio-pci succeeded, but the kernel has no vfio-pci driver`;
}

/** Binds one device; the way the kernel offers (driver_override; new_id on kernels without it). */
function bindOne(d: Planned, sys: Sysfs, host: BindHost): void {
  const dir = sys.pciDir(d.addr);
  const override = path.join(dir, 'driver_override');
  const unbind = () => {
    if (d.driver !== undefined) host.write(path.join(dir, 'driver/unbind'), d.addr);
  };
  if (fs.existsSync(override)) {
    host.write(override, 'vfio-pci');
    unbind();
    host.write(path.join(sys.root, 'sys/bus/pci/drivers_probe'), d.addr);
    // Cleared, so that the device goes back to its own driver should vfio-pci let it go.
    host.write(override, '\n');
  } else {
    unbind();
    try {
      host.write(path.join(sys.root, 'sys/bus/pci/drivers/vfio-pci/new_id'), sys.ids(d.addr).replace(':', ' '));
    } catch (e) {
      // The id is known to vfio-pci already: then bind by address.
      if (errorCode(e) !== 'EEXIST') throw e;
    }
    if (sys.driverOf(d.addr) !== 'vfio-pci') host.write(path.join(sys.root, 'sys/bus/pci/drivers/vfio-pci/bind'), d.addr);
  }
}

export interface BindResult {
  /** What was done (and what was let pass: VIO4WD_BIND_VFIO_PCI_FORCE), a line a device. */
  done: string[];
  /** Devices that were on vfio-pci already. */
  already: string[];
}

/**
 * Binds the entries' devices to vfio-pci. Throws a BindError naming every
 * problem, having bound nothing, when the checks fail; one naming the
 * device when the kernel refuses a write.
 */
export async function bindVfioPci(entries: BindEntry[], opts: { force?: boolean; host?: BindHost } = {}): Promise<BindResult> {
  const result: BindResult = { done: [], already: [] };
  if (entries.length === 0) return result;
  const host = opts.host ?? realHost;
  const sys = new Sysfs(host.root);
  const lines = result.done;
  const { devices, problems } = plan(entries, sys, host, opts.force ?? false, lines);
  if (problems.length) throw new BindError(problems);
  const todo = devices.filter((d) => d.driver !== 'vfio-pci');
  for (const d of devices.filter((x) => x.driver === 'vfio-pci')) result.already.push(`${VAR}: ${d.addr} (${d.entry}) is on vfio-pci already`);
  if (todo.length === 0) return result;
  const noDriver = await ensureVfioPci(sys, host);
  if (noDriver) throw new BindError([noDriver], 'bind');
  const bound: string[] = [];
  for (const d of todo) {
    try {
      bindOne(d, sys, host);
    } catch (e) {
      const readOnly = errorCode(e) === 'EROFS';
      const why = (e instanceof Error ? e.message : String(e)) + (readOnly
        ? ' (/sys is read-only here, as in the service\'s sandbox: virtio-forwarder-bind-vfio.service binds them, see journalctl -u virtio-forwarder-bind-vfio)'
        : '');
      throw new BindError([`${VAR}: ${d.entry}: binding ${d.addr} to vfio-pci failed: ${why}` +
        (bound.length ? ` (bound before it: ${bound.join(', ')})` : '')], 'bind');
    }
    const now = sys.driverOf(d.addr);
    if (now !== 'vfio-pci')
      throw new BindError([`${VAR}: ${d.entry}: ${d.addr} is on ${now ?? 'no driver'} after binding it to vfio-pci (dmesg says why)` +
        (bound.length ? ` (bound before it: ${bound.join(', ')})` : '')], 'bind');
    bound.push(d.addr);
    const group = sys.groupOf(d.addr);
    lines.push(`${VAR}: ${d.addr} (${d.entry}, ${sys.ids(d.addr)}) bound to vfio-pci, was on ${d.driver ?? 'no driver'}; IOMMU group ${group ?? '?'} (/dev/vfio/${group ?? '?'})`);
  }
  return result;
}
