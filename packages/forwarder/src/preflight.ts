// Checks of the host before anything starts, each failing with what is wrong
// and how to fix it: 2M hugepages (mounted, enough free, within
// vm.max_map_count), a driver for PCI VFs, writable directories, the
// vhost-user socket paths the configuration names.
import fs from 'node:fs';
import path from 'node:path';
import {
  type Logger,
  allowedSocketDirs,
  MAX_RELAYS,
  parsePciAddress,
  pathRuleBroken,
  shownPath,
  socketPathFor,
  vhostPathProblem,
  type Config,
} from '@vio4wd/common';
import type { SocketIds } from './socket-owner.js';
import { BindError, bindVfioPci, type BindHost } from './vfio-bind.js';

/** 2M pages the dataplane needs whatever it relays (EAL, vhost, rings; 8) and the two packet pools it keeps ready (12). */
export const BASE_PAGES = 8 + 12;
/** 2M pages one relay's two packet pools take (measured: 11-12; a bond's larger VF pool: +4). */
export const PAGES_PER_RELAY = 12;
export const PAGES_PER_BOND = 16;

/** Kernel drivers DPDK can drive a PCI VF through. */
const PCI_DRIVERS = ['vfio-pci', 'igb_uio', 'uio_pci_generic'];

export interface PlannedRelay {
  /** Devices as given to the dataplane: PCI addresses, or device arguments of aliases. */
  devices: string[];
  bond: boolean;
}

/** The host is not fit to run the forwarder; each problem says why and what to do. */
export class PreflightError extends Error {
  constructor(
    readonly problems: string[],
    /** Found by looking only: nothing was changed on the host. */
    readonly changedNothing = true,
  ) {
    super(problems.join('\n'));
  }
}

export interface PreflightResult {
  errors: string[];
  /** Likely trouble the checks cannot be sure of. */
  warnings: string[];
  notes: string[];
}

/** A device given to the dataplane by PCI address (not DPDK device arguments). */
export function isPciDevice(device: string): boolean {
  return parsePciAddress(device) !== null;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readInt(file: string): number | undefined {
  const t = readText(file)?.trim();
  return t !== undefined && /^\d+$/.test(t) ? Number(t) : undefined;
}

/** /proc/mounts escapes blanks and backslashes in octal. */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

function realPath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** The page size of a hugetlbfs mount in kB, from its options or the default size. */
function mountPageKb(options: string, defaultKb: number | undefined): number | undefined {
  const m = /(?:^|,)pagesize=(\d+)([KMG])/.exec(options);
  if (!m) return defaultKb;
  return Number(m[1]) * { K: 1, M: 1024, G: 1024 * 1024 }[m[2] as 'K' | 'M' | 'G'];
}

function checkHugepages(config: Config, relays: PlannedRelay[], root: string, out: PreflightResult): void {
  const mountPoint = config.hugetlbfsMountPoint;
  // The kernel lists mount points by their real path.
  const want = root === '/' ? realPath(mountPoint) : path.resolve(mountPoint);
  const mounts = (readText(path.join(root, 'proc/mounts')) ?? '').split('\n').map((l) => l.split(' '));
  const mount = mounts.find((f) => f[2] === 'hugetlbfs' && f[1] !== undefined && path.resolve(unescapeMount(f[1])) === want);
  const defaultKb = Number(/Hugepagesize:\s+(\d+) kB/.exec(readText(path.join(root, 'proc/meminfo')) ?? '')?.[1] ?? NaN);
  if (!mount) {
    out.errors.push(`VIRTIOFWD_HUGETLBFS_MOUNT_POINT: no hugetlbfs is mounted on ${mountPoint} ` +
      `(mkdir -p ${mountPoint} && mount -t hugetlbfs -o pagesize=2M nodev ${mountPoint})`);
  } else {
    const kb = mountPageKb(mount[3] ?? '', Number.isNaN(defaultKb) ? undefined : defaultKb);
    if (kb !== 2048)
      out.errors.push(`VIRTIOFWD_HUGETLBFS_MOUNT_POINT: ${mountPoint} is a hugetlbfs of ${kb === undefined ? 'unknown' : `${kb / 1024}M`} pages; ` +
        'virtio-forwarder needs 2M pages (mount one with -o pagesize=2M)');
  }
  const sysHp = path.join(root, 'sys/kernel/mm/hugepages/hugepages-2048kB');
  const total = readInt(path.join(sysHp, 'nr_hugepages'));
  const free = readInt(path.join(sysHp, 'free_hugepages'));
  if (total === undefined || free === undefined) {
    out.errors.push('this kernel offers no 2M hugepages (no /sys/kernel/mm/hugepages/hugepages-2048kB)');
    return;
  }
  const needed = BASE_PAGES + relays.reduce((n, r) => n + (r.bond ? PAGES_PER_BOND : PAGES_PER_RELAY), 0);
  if (free < needed) {
    out.errors.push(`${free} free 2M hugepages of ${total}; the ${relays.length} relay(s) configured at start need ${needed} ` +
      `(${BASE_PAGES} + ${PAGES_PER_RELAY} a relay). Reserve more: echo ${total + needed - free} > /proc/sys/vm/nr_hugepages`);
  } else {
    const room = Math.floor((free - needed) / PAGES_PER_RELAY);
    out.notes.push(`${free} free 2M hugepages of ${total}: room for ${relays.length} configured relay(s) and ${room} more`);
  }
  const maxMaps = readInt(path.join(root, 'proc/sys/vm/max_map_count'));
  if (maxMaps !== undefined && maxMaps <= 2 * total)
    out.errors.push(`vm.max_map_count is ${maxMaps}, not above twice the ${total} 2M hugepages; ` +
      `DPDK can fail to map them (sysctl -w vm.max_map_count=${2 * total + 1024})`);
}

/**
 * Creates dir and its missing parents with this mode, whatever the umask
 * (the service runs with 0027; QEMU and the core scheduler must reach the
 * sockets in some of them). Directories already there are left alone.
 */
export function makeDirs(dir: string, mode?: number): void {
  const first = fs.mkdirSync(dir, { recursive: true });
  if (first === undefined || mode === undefined) return;
  for (let d = dir; d.length >= first.length; d = path.dirname(d)) fs.chmodSync(d, mode);
}

function writableDirProblem(dir: string, what: string, mode?: number): string | undefined {
  try {
    makeDirs(dir, mode);
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return undefined;
  } catch (e) {
    return `${what} ${dir} is not a writable directory: ${errorMessage(e)}`;
  }
}

const NO_IDS: SocketIds = { uid: null, gid: null };

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Whether a process of this uid or gid (not root) may do what `want` (rwx bits, 0-7) asks in a directory of this stat. */
function allows(st: fs.Stats, ids: SocketIds, want: number): boolean {
  if (ids.uid === 0 || (st.mode & want) === want) return true;
  if (ids.uid !== null && st.uid === ids.uid && ((st.mode >> 6) & want) === want) return true;
  return ids.gid !== null && st.gid === ids.gid && ((st.mode >> 3) & want) === want;
}

/**
 * VIRTIOFWD_SOCKET_DIR in client mode, for QEMU running as
 * VIRTIOFWD_SOCKET_OWNER/GROUP (libvirt's): QEMU creates the sockets there,
 * so it needs to write there. Made if missing as root:GROUP 2770 (setgid:
 * every socket gets that group) or, with no group, OWNER's 0755. A
 * directory already there is left as it is (clientSocketDirAccess checks it).
 */
function makeClientSocketDir(dir: string, ids: SocketIds): string | undefined {
  let made = false;
  try {
    const first = fs.mkdirSync(dir, { recursive: true });
    if (first !== undefined) {
      made = true;
      for (let d = path.dirname(dir); d.length >= first.length; d = path.dirname(d)) fs.chmodSync(d, 0o755);
      // The mode before the group: without CAP_FSETID (the unit's bounding
      // set) chmod drops the setgid bit of a directory whose group is not
      // ours; chown keeps it on directories. (And RestrictSUIDSGID=yes,
      // which the shipped unit leaves out for this, would refuse it.)
      fs.chmodSync(dir, ids.gid !== null ? 0o2770 : 0o755);
      fs.chownSync(dir, ids.gid !== null ? 0 : (ids.uid ?? -1), ids.gid ?? -1);
    }
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return undefined;
  } catch (e) {
    // Not left half made: the next start makes it again.
    if (made) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // (Left for the operator: the message below says what failed.)
      }
    }
    return `VIRTIOFWD_SOCKET_DIR ${dir} could not be made for QEMU's sockets: ${errorMessage(e)}`;
  }
}

/** Client mode: whether QEMU, as VIRTIOFWD_SOCKET_OWNER/GROUP, can create its sockets in VIRTIOFWD_SOCKET_DIR; the fix if not. */
export function clientSocketDirAccess(config: Pick<Config, 'socketDir' | 'socketOwner' | 'socketGroup'>, ids: SocketIds): string | undefined {
  const dir = config.socketDir;
  const names = [ids.uid !== null ? `user ${config.socketOwner}` : '', ids.gid !== null ? `group ${config.socketGroup}` : '']
    .filter((n) => n !== '').join(', ');
  const fix = ids.gid !== null ? `chgrp ${config.socketGroup} ${dir} && chmod 2770 ${dir}` : `chown ${config.socketOwner} ${dir}`;
  const why = `in vhost-user client mode (VIRTIOFWD_VHOST_CLIENT=true) QEMU creates the sockets, as ${names} ` +
    '(VIRTIOFWD_SOCKET_OWNER/VIRTIOFWD_SOCKET_GROUP), and could not';
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    if (!allows(st, ids, 0o1))
      return `VIRTIOFWD_SOCKET_DIR ${dir}: its parent ${d} (uid ${st.uid}, gid ${st.gid}, mode ${octal(st.mode)}) cannot be entered: ${why} reach it`;
    if (d === path.dirname(d)) break;
  }
  const st = fs.statSync(dir);
  if (!allows(st, ids, 0o3))
    return `VIRTIOFWD_SOCKET_DIR ${dir} is uid ${st.uid}, gid ${st.gid}, mode ${octal(st.mode)}: ${why} write there. ` +
      `Fix: ${fix} (what virtio-forwarder makes when it creates the directory), or remove it`;
  return undefined;
}

/**
 * Server mode: whether QEMU, as VIRTIOFWD_SOCKET_OWNER/GROUP, can reach a
 * socket the relay made at sock (its directories searchable; the socket
 * itself is given to them, 0660). What stops it, if anything: QEMU's
 * connect() then fails with "Permission denied", which this side never sees.
 */
export function serverSocketReach(sock: string, ids: SocketIds, config: Pick<Config, 'socketOwner' | 'socketGroup'>): string | undefined {
  if (ids.uid === 0) return undefined;
  const who = ids.uid === null && ids.gid === null
    ? 'no user VIRTIOFWD_SOCKET_OWNER or group VIRTIOFWD_SOCKET_GROUP names on this host (the socket stays root\'s: QEMU must run as root)'
    : undefined;
  if (who) return `vhost-user socket ${sock}: ${who}`;
  const names = [ids.uid !== null ? `user ${config.socketOwner}` : '', ids.gid !== null ? `group ${config.socketGroup}` : '']
    .filter((n) => n !== '').join(', ');
  for (let d = path.dirname(sock); ; d = path.dirname(d)) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      return undefined;
    }
    if (!allows(st, ids, 0o1))
      return `QEMU, as ${names} (VIRTIOFWD_SOCKET_OWNER/VIRTIOFWD_SOCKET_GROUP), cannot reach vhost-user socket ${sock}: ` +
        `${d} (uid ${st.uid}, gid ${st.gid}, mode ${octal(st.mode)}) cannot be entered. Its connect() fails with "Permission denied": ` +
        "virsh start fails, or with <reconnect> leaves the domain paused (docs/libvirt.md)";
    if (d === path.dirname(d)) return undefined;
  }
}

function errorMessage(e: unknown): string {
  // (Errors from fs are Error-like even across realms: read the message, not instanceof.)
  return typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
}

/**
 * The directories the forwarder writes to, created if missing: what is
 * wrong with them. ids: the sockets' owner and group (VIRTIOFWD_SOCKET_OWNER/GROUP), resolved.
 */
export function directoryProblems(config: Config, ids: SocketIds = NO_IDS): string[] {
  const shared = config.vhostClient && (ids.uid !== null || ids.gid !== null);
  const socketDir = shared
    ? makeClientSocketDir(config.socketDir, ids)
    // Server mode: the relay creates the sockets there (and gives them to the owner); QEMU only connects.
    : writableDirProblem(config.socketDir, 'VIRTIOFWD_SOCKET_DIR', 0o755);
  const dirs: [string, string][] = [
    [config.stateDir, 'VIO4WD_STATE_DIR'],
    [config.pidDir, 'VIRTIOFWD_PID_DIR'],
  ];
  return [socketDir, ...dirs.map(([dir, what]) => writableDirProblem(dir, what))].filter((p) => p !== undefined);
}

/**
 * The vhost-user sockets the configuration itself names pass the rules port
 * control applies: every virtio id's socket (VIRTIOFWD_SOCKET_DIR +
 * VIRTIOFWD_SOCKET_FNAME_PATTERN), and the static relays' in full.
 */
export function socketPathProblems(config: Config): string[] {
  const out: string[] = [];
  const longest = socketPathFor(config, MAX_RELAYS - 1);
  const rule = pathRuleBroken(longest);
  if (rule)
    out.push(`VIRTIOFWD_SOCKET_DIR + VIRTIOFWD_SOCKET_FNAME_PATTERN: the socket of virtio id ${MAX_RELAYS - 1}, ${shownPath(longest)}, ${rule}`);
  for (const vf of rule ? [] : config.staticVfs) {
    const problem = vhostPathProblem(socketPathFor(config, vf.virtioId), allowedSocketDirs(config));
    if (problem) out.push(`VIRTIOFWD_STATIC_VFS: ${vf.pci}=${vf.virtioId}: ${problem}`);
  }
  return out;
}

/** Which kernel drivers for PCI devices are loaded. */
export function pciDriversLoaded(root = '/'): string[] {
  return PCI_DRIVERS.filter((d) => fs.existsSync(path.join(root, 'sys/bus/pci/drivers', d)));
}

export function pciDriverProblem(devices: string[], root = '/'): string | undefined {
  const pci = devices.filter(isPciDevice);
  if (pci.length === 0 || pciDriversLoaded(root).length > 0) return undefined;
  return `VF ${pci.join(', ')} is a PCI device and no driver DPDK can use is loaded (modprobe vfio-pci, and bind the VF to it)`;
}

/**
 * Everything is checked and every problem reported at once. relays: what
 * will be plugged at start (static VFs and the saved state).
 */
export function preflight(config: Config, relays: PlannedRelay[], root = '/', ids: SocketIds = NO_IDS): PreflightResult {
  const out: PreflightResult = { errors: [], warnings: [], notes: [] };
  if (!config.eal.noHuge) checkHugepages(config, relays, root, out);
  const driver = pciDriverProblem(relays.flatMap((r) => r.devices), root);
  if (driver) out.errors.push(driver);
  const dirs = directoryProblems(config, ids);
  out.errors.push(...dirs, ...(dirs.length ? [] : socketPathProblems(config)));
  if (dirs.length === 0 && config.vhostClient && (ids.uid !== null || ids.gid !== null)) {
    // A known user is QEMU's for sure (libvirt made it); the group alone
    // (kvm is on every systemd host) may not be: QEMU may run as root.
    const access = clientSocketDirAccess(config, ids);
    if (access) (ids.uid !== null ? out.errors : out.warnings).push(access);
  }
  return out;
}

/** VIRTIOFWD_BIND_VFIO_PCI, done (idempotent) or refused as a pre-flight error. */
export async function bindOrRefuse(config: Config, log: Logger, host?: BindHost): Promise<void> {
  try {
    const r = await bindVfioPci(config.bindVfioPci, { force: config.bindVfioPciForce, ...(host ? { host } : {}) });
    for (const l of r.done) log.notice(l);
    for (const l of r.already) log.debug(l);
  } catch (e) {
    if (e instanceof BindError) throw new PreflightError(e.problems, e.stage === 'check');
    throw e;
  }
}
