// The configuration of virtio-forwarder and its services, read from
// /etc/default/virtioforwarder with the original's variables and defaults.
import fs from 'node:fs';
import os from 'node:os';
import { z } from 'zod';
import { ConfigError, parseConfigText, type RawEntry } from './config-file.js';
import { MAX_RELAYS } from './dataplane-protocol.js';
import { formatPciAddress, parsePciAddress } from './pci.js';
import { MAX_SOCKET_DIRS, pathRuleBroken, shownPath } from './vhost-path.js';

export { ConfigError } from './config-file.js';

export const DEFAULT_CONFIG_PATH = '/etc/default/virtioforwarder';

export interface CpuPin {
  relay: number;
  /** CPU serving VF->VM. */
  vfToVm: number;
  /** CPU serving VM->VF (the same as vfToVm when only one is given). */
  vmToVf: number;
}

export interface StaticVf {
  pci: string;
  virtioId: number;
}

export interface Config {
  cpuMask: number[];
  logLevel: number;
  hugetlbfsMountPoint: string;
  socketOwner: string;
  socketGroup: string;
  socketDir: string;
  /**
   * Where else port control may put or find vhost-user sockets (their
   * directory, symlinks resolved, must be socketDir or one of these).
   */
  vhostSocketDirs: string[];
  socketFnamePattern: string;
  dynamicSockets: boolean;
  vhostClient: boolean;
  staticVfs: StaticVf[];
  cpuPins: CpuPin[];
  masterLcore: number;
  pidDir: string;
  jumbo: boolean;
  mergeableBuffers: boolean;
  tso: boolean;
  /** null: not passed; '0': DPDK's default token; else a UUID. */
  vfioVfToken: string | null;
  zmqPortControlEp: string;
  zmqStatsEp: string;
  zmqCoreSchedEp: string;
  zmqConfigEp: string;
  coreSchedEnable: boolean;
  /** Settings of vio4wd_core_scheduler (read here so that a bad value fails early, for both services). */
  coreSched: {
    /** Share of the busiest worker's excess load (over the ideal) a rebalance must remove (0-1). */
    sensitivity: number;
    /** Seconds between load samples. */
    pollIntervalS: number;
    logLevel: number;
    /** Consider workers on every NUMA node, not only the relay's own. */
    globalNumaOpt: boolean;
    /** Leave relays pinned by VIRTIOFWD_CPU_PINS where they are. */
    keepPins: boolean;
    /** A worker busier than this (0-1) counts as overloaded. */
    loadThreshold: number;
    /** Intervals a worker must stay overloaded before the scheduler acts. */
    sustainIntervals: number;
  };
  /**
   * CPUs every worker lcore runs on (DPDK --lcores), for hosts with fewer
   * CPUs than workers (tests); empty: worker lcore N runs on CPU N.
   */
  workerCpus: number[];
  /** PCI address -> DPDK device arguments, for VFs that are not PCI devices. */
  deviceAliases: Map<string, string>;
  dataplaneBinary: string;
  stateDir: string;
  controlSocket: string;
  eal: {
    noHuge: boolean;
    memoryMb: number;
    filePrefix: string;
    extraArgs: string[];
  };
  idleSleepUs: number;
  /** How long a burst the far side cannot take is held before it is dropped (us). */
  holdUs: number;
}

type Parser<T> = (e: RawEntry) => T;

class VarError extends Error {}

function scalar(e: RawEntry): string {
  if (e.isArray && e.values.length > 1) throw new VarError('takes one value, not an array');
  return e.values[0] ?? '';
}

function withSchema<S extends z.ZodType>(schema: S, allowed: string): Parser<z.infer<S>> {
  return (e) => {
    const r = schema.safeParse(scalar(e));
    if (!r.success) throw new VarError(`'${scalar(e)}' is not allowed; allowed: ${allowed}`);
    return r.data;
  };
}

const TRUE = new Set(['true', 'y', 'yes', '1', 'on']);
const FALSE = new Set(['false', 'n', 'no', '0', 'off', '']);
const bool: Parser<boolean> = (e) => {
  const v = scalar(e).toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new VarError(`'${scalar(e)}' is not allowed; allowed: true or false (or y/n, empty = false)`);
};

const decimalIn = (lo: number, hi: number) =>
  withSchema(z.string().regex(/^\d+(\.\d+)?$/).transform(Number).pipe(z.number().gt(lo).max(hi)), `a number above ${lo}, at most ${hi}`);

const intIn = (lo: number, hi: number) =>
  withSchema(z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(lo).max(hi)), `an integer from ${lo} to ${hi}`);

const absPath = withSchema(z.string().regex(/^\//), 'an absolute path');
const text = withSchema(z.string(), 'text');
const endpoint = withSchema(z.string().regex(/^(ipc|tcp|inproc):\/\/.+/), 'a ZeroMQ endpoint such as ipc:///var/run/virtio-forwarder/port_control');
const optionalEndpoint = withSchema(z.union([z.literal(''), z.string().regex(/^(ipc|tcp|inproc):\/\/.+/)]), 'empty, or a ZeroMQ endpoint');


/** "1,2,4-6" or "0x16": the CPUs given. */
export function parseCpuList(v: string, max = 1023): number[] {
  const cpus = new Set<number>();
  if (/^0x[0-9a-fA-F]+$/.test(v)) {
    const mask = BigInt(v);
    for (let i = 0; i <= max; i++) if ((mask >> BigInt(i)) & 1n) cpus.add(i);
    if (mask >> BigInt(max + 1) !== 0n) throw new VarError(`mask ${v} names a CPU above ${max}`);
  } else {
    for (const part of v.split(',')) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
      if (!m) throw new VarError(`'${v}' is not a CPU list (0,1,2 or 0-3) nor a hex mask (0x6)`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) throw new VarError(`range ${part} runs backwards`);
      for (let c = lo; c <= hi; c++) {
        if (c > max) throw new VarError(`CPU ${c} does not exist (this host has CPUs 0-${max})`);
        cpus.add(c);
      }
    }
  }
  if (cpus.size === 0) throw new VarError('names no CPU');
  return [...cpus].sort((a, b) => a - b);
}

/** Elements of an array variable; ';' also separates, as the guide allows. */
function elements(e: RawEntry): string[] {
  return e.values.flatMap((v) => v.split(';')).map((v) => v.trim()).filter((v) => v !== '');
}

function pciOf(text: string): string {
  const a = parsePciAddress(text);
  if (!a) throw new VarError(`'${text}' is not a PCI address (DDDD:BB:SS.F)`);
  return formatPciAddress(a);
}

const staticVfs: Parser<StaticVf[]> = (e) =>
  elements(e).map((el) => {
    const m = /^([^=]+)=(\d+)$/.exec(el);
    if (!m) throw new VarError(`'${el}' is not <PCI>=<virtio_id>`);
    const virtioId = Number(m[2]);
    if (virtioId >= MAX_RELAYS) throw new VarError(`virtio id ${virtioId} in '${el}' is outside 0-${MAX_RELAYS - 1}`);
    return { pci: pciOf(m[1] ?? ''), virtioId };
  });

const cpuPins: Parser<CpuPin[]> = (e) =>
  elements(e).map((el) => {
    const m = /^(?:--virtio-cpu=)?(\d+):(\d+)(?:,(\d+))?$/.exec(el);
    if (!m) throw new VarError(`'${el}' is not <relay>:<cpu>[,<cpu>]`);
    const relay = Number(m[1]);
    if (relay >= MAX_RELAYS) throw new VarError(`relay ${relay} in '${el}' is outside 0-${MAX_RELAYS - 1}`);
    const vfToVm = Number(m[2]);
    return { relay, vfToVm, vmToVf: m[3] === undefined ? vfToVm : Number(m[3]) };
  });

const deviceAliases: Parser<Map<string, string>> = (e) => {
  const map = new Map<string, string>();
  for (const el of e.values.filter((v) => v !== '')) {
    const eq = el.indexOf('=');
    if (eq < 0 || eq === el.length - 1) throw new VarError(`'${el}' is not <PCI>=<device arguments>`);
    map.set(pciOf(el.slice(0, eq)), el.slice(eq + 1));
  }
  return map;
};

const vfioToken: Parser<string | null> = (e) => {
  const v = scalar(e);
  if (v === '' || v.toLowerCase() === 'none') return null;
  if (v === '0') return '0';
  // Any 8-4-4-4-12 hex UUID, as DPDK's rte_uuid_parse takes it (not only RFC 4122 variants).
  if (z.guid().safeParse(v).success) return v.toLowerCase();
  throw new VarError(`'${v}' is not allowed; allowed: empty (no token), 0 (default token) or a UUID`);
};

const socketPattern: Parser<string> = (e) => {
  const v = scalar(e) || 'virtio-forwarder%u.sock';
  if ((v.match(/%u/g) ?? []).length !== 1 || /%[^u]/.test(v.replace(/%u/, '')) || v.includes('/'))
    throw new VarError(`'${v}' must be a file name with exactly one %u (the virtio id)`);
  return v;
};

/** A directory vhost-user sockets are in: the same lexical rules as a socket path. */
function socketDirOf(v: string): string {
  const dir = v.length > 1 ? v.replace(/\/+$/, '') : v;
  const rule = pathRuleBroken(dir);
  if (rule) throw new VarError(`'${shownPath(v)}' ${rule}`);
  return dir;
}

const socketDir: Parser<string> = (e) => socketDirOf(scalar(e));

const socketDirs: Parser<string[]> = (e) => {
  const dirs = e.values.flatMap((v) => v.split(/\s+/)).filter((v) => v !== '').map(socketDirOf);
  if (dirs.length > MAX_SOCKET_DIRS - 1) throw new VarError(`${dirs.length} directories; at most ${MAX_SOCKET_DIRS - 1} (with VIRTIOFWD_SOCKET_DIR)`);
  return dirs;
};

const shellWords: Parser<string[]> = (e) => e.values.flatMap((v) => v.split(/\s+/)).filter((v) => v !== '');

interface VarSpec {
  default: string | string[];
  parse: Parser<unknown>;
  key: string;
}

/** DPDK's RTE_MAX_LCORE. */
const MAX_LCORES = 128;

function varSpecs(hostCpus: number, sharedWorkers: boolean): Record<string, VarSpec> {
  return {
  // With VIO4WD_WORKER_CPUS the mask names lcores (up to DPDK's 128), not CPUs.
  VIRTIOFWD_CPU_MASK: { key: 'cpuMask', default: '1,2', parse: (e) => parseCpuList(scalar(e), (sharedWorkers ? MAX_LCORES : hostCpus) - 1) },
  VIRTIOFWD_LOG_LEVEL: { key: 'logLevel', default: '6', parse: intIn(0, 7) },
  VIRTIOFWD_HUGETLBFS_MOUNT_POINT: { key: 'hugetlbfsMountPoint', default: '/mnt/huge', parse: absPath },
  VIRTIOFWD_SOCKET_OWNER: { key: 'socketOwner', default: 'libvirt-qemu', parse: text },
  VIRTIOFWD_SOCKET_GROUP: { key: 'socketGroup', default: 'kvm', parse: text },
  VIRTIOFWD_SOCKET_DIR: { key: 'socketDir', default: '/tmp/virtio-forwarder', parse: socketDir },
  // Where Neutron's Open vSwitch and OVN drivers (vhostuser_socket_dir, vhost_sock_dir) and
  // TripleO's client mode (NeutronVhostuserSocketDir) have Nova put vhost-user sockets: docs/security.md.
  VIO4WD_VHOST_SOCKET_DIRS: { key: 'vhostSocketDirs', default: ['/var/run/openvswitch', '/var/lib/vhost_sockets'], parse: socketDirs },
  VIRTIOFWD_SOCKET_FNAME_PATTERN: { key: 'socketFnamePattern', default: '', parse: socketPattern },
  VIRTIOFWD_DYNAMIC_SOCKETS: { key: 'dynamicSockets', default: 'false', parse: bool },
  VIRTIOFWD_VHOST_CLIENT: { key: 'vhostClient', default: 'true', parse: bool },
  VIRTIOFWD_STATIC_VFS: { key: 'staticVfs', default: [], parse: staticVfs },
  VIRTIOFWD_CPU_PINS: { key: 'cpuPins', default: [], parse: cpuPins },
  VIRTIOFWD_MASTER_LCORE: { key: 'masterLcore', default: '0', parse: (e) => (scalar(e) === '' ? 0 : intIn(0, hostCpus - 1)(e)) },
  VIRTIOFWD_PID_DIR: { key: 'pidDir', default: '/var/run', parse: absPath },
  VIRTIOFWD_JUMBO: { key: 'jumbo', default: 'false', parse: bool },
  VIRTIOFWD_MRGBUF: { key: 'mergeableBuffers', default: 'false', parse: bool },
  VIRTIOFWD_TSO: { key: 'tso', default: 'false', parse: bool },
  VIRTIOFWD_VFIO_VF_TOKEN: { key: 'vfioVfToken', default: '', parse: vfioToken },
  VIRTIOFWD_ZMQ_PORT_CONTROL_EP: { key: 'zmqPortControlEp', default: 'ipc:///var/run/virtio-forwarder/port_control', parse: endpoint },
  VIRTIOFWD_ZMQ_STATS_EP: { key: 'zmqStatsEp', default: 'ipc:///var/run/virtio-forwarder/stats', parse: endpoint },
  VIRTIOFWD_ZMQ_CORE_SCHED_EP: { key: 'zmqCoreSchedEp', default: 'ipc:///var/run/virtio-forwarder/core_sched', parse: endpoint },
  VIRTIOFWD_ZMQ_CONFIG_EP: { key: 'zmqConfigEp', default: '', parse: optionalEndpoint },
  VIO4WD_CORE_SCHED_ENABLE: { key: 'coreSchedEnable', default: 'false', parse: bool },
  VIO4WD_CORE_SCHED_SENSITIVITY: { key: 'coreSched.sensitivity', default: '0.25', parse: decimalIn(0, 1) },
  VIO4WD_CORE_SCHED_POLL_INTERVAL: { key: 'coreSched.pollIntervalS', default: '5', parse: decimalIn(0, 3600) },
  VIO4WD_CORE_SCHED_LOG_LEVEL: { key: 'coreSched.logLevel', default: '6', parse: intIn(0, 7) },
  VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT: { key: 'coreSched.globalNumaOpt', default: 'false', parse: bool },
  VIO4WD_CORE_SCHED_KEEP_PINS: { key: 'coreSched.keepPins', default: 'false', parse: bool },
  VIO4WD_CORE_SCHED_LOAD_THRESHOLD: { key: 'coreSched.loadThreshold', default: '0.8', parse: decimalIn(0, 1) },
  VIO4WD_CORE_SCHED_SUSTAIN: { key: 'coreSched.sustainIntervals', default: '3', parse: intIn(1, 1000) },
  VIO4WD_WORKER_CPUS: { key: 'workerCpus', default: '', parse: (e) => (scalar(e) === '' ? [] : parseCpuList(scalar(e), hostCpus - 1)) },
  VIRTIOFWD_DEVICE_ALIASES: { key: 'deviceAliases', default: [], parse: deviceAliases },
  VIRTIOFWD_BINARY: { key: 'dataplaneBinary', default: '/usr/libexec/vio4wd/vio4wd-dataplane', parse: absPath },
  VIO4WD_STATE_DIR: { key: 'stateDir', default: '/var/lib/vio4wd', parse: absPath },
  VIO4WD_CONTROL_SOCKET: { key: 'controlSocket', default: '/var/run/virtio-forwarder/dataplane.sock', parse: absPath },
  VIO4WD_NO_HUGE: { key: 'eal.noHuge', default: 'false', parse: bool },
  VIO4WD_MEMORY_MB: { key: 'eal.memoryMb', default: '512', parse: intIn(64, 1048576) },
  VIO4WD_EAL_FILE_PREFIX: { key: 'eal.filePrefix', default: 'virtio-forwarder', parse: withSchema(z.string().regex(/^[A-Za-z0-9_.-]+$/), 'letters, digits, _ . -') },
  VIO4WD_EAL_EXTRA_ARGS: { key: 'eal.extraArgs', default: [], parse: shellWords },
  VIO4WD_IDLE_SLEEP_US: { key: 'idleSleepUs', default: '0', parse: intIn(0, 1000) },
  VIO4WD_HOLD_US: { key: 'holdUs', default: '10000', parse: intIn(0, 1000000) },
  };
}

/** Variables of the original that this implementation reads but does not need. */
const ACCEPTED = new Set([
  'VIRTIOFWD_IPC_PORT_CONTROL',
  'VIRTIOFWD_OVSDB_SOCK_PATH',
  'VIRTIOFWD_CPU_NIC_SAME_NUMA',
  'VIRTIOFWD_ZERO_COPY',
  'VIRTIOFWD_BIND_VFIO_PCI',
]);

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const [head, tail] = path.split('.', 2) as [string, string | undefined];
  if (tail === undefined) obj[head] = value;
  else setPath((obj[head] ??= {}) as Record<string, unknown>, tail, value);
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
}

export interface ParseOptions {
  /** CPUs on this host (CPU numbers 0 to hostCpus-1 exist). */
  hostCpus?: number;
}

export function parseConfig(textContent: string, source = 'config', opts: ParseOptions = {}): LoadedConfig {
  const entries = parseConfigText(textContent, source);
  const sharedWorkers = entries.some((e) => e.name === 'VIO4WD_WORKER_CPUS' && e.values.some((v) => v.trim() !== ''));
  const vars = varSpecs(Math.max(opts.hostCpus ?? os.cpus().length, 1), sharedWorkers);
  const byName = new Map<string, RawEntry>();
  const warnings: string[] = [];
  for (const e of entries) {
    if (!(e.name in vars) && !ACCEPTED.has(e.name)) warnings.push(`${source}:${e.line}: unknown variable ${e.name} (ignored)`);
    byName.set(e.name, e);
  }
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(vars)) {
    const given = byName.get(name);
    const entry: RawEntry = given ?? {
      name,
      values: Array.isArray(spec.default) ? spec.default : [spec.default],
      isArray: Array.isArray(spec.default),
      line: 0,
    };
    try {
      setPath(out, spec.key, spec.parse(entry));
    } catch (e) {
      if (!(e instanceof VarError)) throw e;
      problems.push(`${source}:${entry.line}: ${name}: ${e.message}`);
    }
  }
  const config = out as unknown as Partial<Config>;
  const at = (name: string) => `${source}:${byName.get(name)?.line ?? 0}`;
  // Checks across variables, for those that parsed.
  if (config.cpuMask && config.cpuPins) {
    const mask = config.cpuMask;
    for (const pin of config.cpuPins) {
      for (const cpu of new Set([pin.vfToVm, pin.vmToVf])) {
        if (!mask.includes(cpu))
          problems.push(`${at('VIRTIOFWD_CPU_PINS')}: VIRTIOFWD_CPU_PINS: CPU ${cpu} of relay ${pin.relay} is not in VIRTIOFWD_CPU_MASK (${mask.join(',')})`);
      }
    }
  }
  if (config.cpuMask && config.masterLcore !== undefined && config.cpuMask.includes(config.masterLcore))
    problems.push(`${at('VIRTIOFWD_CPU_MASK')}: VIRTIOFWD_CPU_MASK: CPU ${config.masterLcore} is VIRTIOFWD_MASTER_LCORE's; the control thread needs a CPU of its own`);
  const ids = new Set<number>();
  for (const vf of config.staticVfs ?? []) {
    if (ids.has(vf.virtioId)) problems.push(`${at('VIRTIOFWD_STATIC_VFS')}: VIRTIOFWD_STATIC_VFS: virtio id ${vf.virtioId} is given twice`);
    ids.add(vf.virtioId);
  }
  if (problems.length) throw new ConfigError(problems);
  return { config: config as Config, warnings };
}

export function loadConfig(path: string, opts: ParseOptions = {}): LoadedConfig {
  let content: string;
  try {
    content = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`]);
  }
  return parseConfig(content, path, opts);
}

/** Every directory a vhost-user socket may be in. */
export function allowedSocketDirs(config: Pick<Config, 'socketDir' | 'vhostSocketDirs'>): string[] {
  return [...new Set([config.socketDir, ...config.vhostSocketDirs])];
}

/** The vhost-user socket of a virtio id, from the directory and the pattern. */
export function socketPathFor(config: Pick<Config, 'socketDir' | 'socketFnamePattern'>, virtioId: number): string {
  return `${config.socketDir}/${config.socketFnamePattern.replace('%u', String(virtioId))}`;
}
