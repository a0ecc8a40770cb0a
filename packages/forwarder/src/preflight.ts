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
    // (Errors from fs are Error-like even across realms: read the message, not instanceof.)
    const msg = typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
    return `${what} ${dir} is not a writable directory: ${msg}`;
  }
}

/** The directories the forwarder writes to, created if missing: what is wrong with them. */
export function directoryProblems(config: Config): string[] {
  const dirs: [string, string, number?][] = [
    // In client mode too: the static relays' sockets are checked there (and QEMU makes them there).
    [config.socketDir, 'VIRTIOFWD_SOCKET_DIR', 0o755],
    [config.stateDir, 'VIO4WD_STATE_DIR'],
    [config.pidDir, 'VIRTIOFWD_PID_DIR'],
  ];
  return dirs.map(([dir, what, mode]) => writableDirProblem(dir, what, mode)).filter((p) => p !== undefined);
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
export function preflight(config: Config, relays: PlannedRelay[], root = '/'): PreflightResult {
  const out: PreflightResult = { errors: [], notes: [] };
  if (!config.eal.noHuge) checkHugepages(config, relays, root, out);
  const driver = pciDriverProblem(relays.flatMap((r) => r.devices), root);
  if (driver) out.errors.push(driver);
  const dirs = directoryProblems(config);
  out.errors.push(...dirs, ...(dirs.length ? [] : socketPathProblems(config)));
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
