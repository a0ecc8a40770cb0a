// The configuration of virtio-forwarder and its services, read from
// /etc/default/virtioforwarder with the original's variables and defaults.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, parseConfigText, type RawEntry } from './config-file.js';
import { MAX_RELAYS } from './dataplane-protocol.js';
import { formatPciAddress, parsePciAddress } from './pci.js';
import { MAX_SOCKET_DIRS, pathRuleBroken, shownPath } from './vhost-path.js';

export { ConfigError } from './config-file.js';

export const DEFAULT_CONFIG_PATH = '/etc/default/virtioforwarder';

/** The ZeroMQ endpoints when the configuration does not name others (the original's). */
export const DEFAULT_ENDPOINTS = {
  portControl: 'ipc:///var/run/virtio-forwarder/port_control',
  stats: 'ipc:///var/run/virtio-forwarder/stats',
  coreSched: 'ipc:///var/run/virtio-forwarder/core_sched',
} as const;

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
  /** Where the supervisor serves its metrics (VIO4WD_METRICS_EP). */
  metricsEp: MetricsEndpoint;
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
    /** Where vio4wd_core_scheduler serves its metrics. */
    metricsEp: MetricsEndpoint;
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
  /** A relay direction quiet for 10 ms is polled every this many microseconds only (0: on every pass). */
  idlePollUs: number;
  /** How long a burst the far side cannot take is held before it is dropped (us). */
  holdUs: number;
  /** How long the supervisor waits for the dataplane's reply to a request (ms). */
  dataplaneTimeoutMs: number;
  /** Devices to bind to vfio-pci before the dataplane starts (VIRTIOFWD_BIND_VFIO_PCI). */
  bindVfioPci: BindEntry[];
  /** Bind even a device whose network interface is up with an address. */
  bindVfioPciForce: boolean;
}

/** A VIRTIOFWD_BIND_VFIO_PCI entry: one PCI device, or the VFs of a netdev (the first count, or all). */
export type BindEntry = { text: string; pci: string } | { text: string; netdev: string; count?: number };

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
/**
 * A metrics endpoint: off, http://HOST:PORT/PATH (port 0: a free one, which
 * the log names) or a unix socket (unix:/path, or an absolute path).
 */
export type MetricsEndpoint =
  | { kind: 'off' }
  | { kind: 'http'; host: string; port: number; path: string }
  | { kind: 'unix'; socket: string; path: string };

/** The default ports: outside 9100-9999 (Prometheus's exporter range, all of it allocated), below Linux's ephemeral ports. */
export const DEFAULT_METRICS = {
  forwarder: 'http://127.0.0.1:19721/metrics',
  coreSched: 'http://127.0.0.1:19722/metrics',
} as const;

const METRICS_ALLOWED = "off, http://HOST:PORT/PATH (e.g. http://127.0.0.1:19721/metrics) or a unix socket (unix:/run/vio4wd/metrics.sock)";

export function parseMetricsEndpoint(v: string): MetricsEndpoint {
  const bad = (why: string) => new VarError(`'${v}' ${why}; allowed: ${METRICS_ALLOWED}`);
  if (v.toLowerCase() === 'off') return { kind: 'off' };
  if (v.startsWith('/') || v.startsWith('unix:')) {
    const socket = v.startsWith('unix:') ? v.slice(5) : v;
    if (!path.isAbsolute(socket)) throw bad('is not an absolute socket path');
    if (Buffer.byteLength(socket) > 107) throw bad('is longer than a unix socket path may be (107 bytes)');
    if (/[\s\0]/.test(socket)) throw bad('has white space in its path');
    return { kind: 'unix', socket: path.normalize(socket), path: '/metrics' };
  }
  const m = /^http:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})(\/[A-Za-z0-9._~\/-]*)?$/.exec(v);
  if (!m) throw bad(/^https:/.test(v) ? 'is https (serve it behind a TLS proxy)' : 'is not off, an http:// URL with a port, nor a unix socket');
  const port = Number(m[2]);
  if (port > 65535) throw bad('has a port above 65535');
  const host = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  return { kind: 'http', host, port, path: m[3] ?? '/metrics' };
}

/** The endpoint as an address to scrape (port: the one actually bound, when 0 was asked for). */
export function metricsAddress(ep: MetricsEndpoint, port?: number): string {
  if (ep.kind === 'off') return 'off';
  if (ep.kind === 'unix') return `unix:${ep.socket}`;
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  return `http://${host}:${port ?? ep.port}${ep.path}`;
}

const metricsEndpoint: Parser<MetricsEndpoint> = (e) => parseMetricsEndpoint(scalar(e));

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

/** Linux interface names: up to 15 bytes, no '/', ':' or blank. */
const NETDEV = /^[^\s/:]{1,15}$/;

const bindEntries: Parser<BindEntry[]> = (e) =>
  elements(e).map((el): BindEntry => {
    const pci = parsePciAddress(el);
    if (pci) return { text: el, pci: formatPciAddress(pci) };
    const m = /^([^:]+)(?::(\d+))?$/.exec(el);
    if (!m || !NETDEV.test(m[1] ?? '') || /^[0-9a-fA-F]{2,4}$/.test(m[1] ?? ''))
      throw new VarError(`'${el}' is neither a PCI address (0000:01:02.3 or 01:02.3) nor a netdev (eth1) or netdev:N (eth1:4)`);
    if (m[2] === undefined) return { text: el, netdev: m[1] ?? '' };
    const count = Number(m[2]);
    if (count < 1 || count > 256) throw new VarError(`'${el}': the number of VFs is 1 to 256`);
    return { text: el, netdev: m[1] ?? '', count };
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

/** How one variable is read: its name in the file, its default, its parser. */
interface VarSpec<T> {
  name: string;
  default: string | string[];
  parse: Parser<T>;
}

function v<T>(name: string, dflt: string | string[], parse: Parser<T>): VarSpec<T> {
  return { name, default: dflt, parse };
}

/** The parts of Config that are groups of settings of their own. */
const SECTIONS = ['coreSched', 'eal'] as const;
type Section = (typeof SECTIONS)[number];
function isSection(key: keyof Config): key is Section {
  return (SECTIONS as readonly string[]).includes(key);
}
type SectionSpecs<T> = { [K in keyof T]-?: VarSpec<T[K]> };
/**
 * A variable for every field of Config, each parser of the field's type: a
 * field without one, a misspelt one or a parser of another type does not
 * compile.
 */
type TopKey = Exclude<keyof Config, Section>;
type TopSpecs = { [K in TopKey]: VarSpec<Config[K]> };
type SectionsSpecs = { [K in Section]: SectionSpecs<Config[K]> };
type ConfigSpecs = TopSpecs & SectionsSpecs;

/** DPDK's RTE_MAX_LCORE. */
const MAX_LCORES = 128;

function configSpecs(hostCpus: number, sharedWorkers: boolean): ConfigSpecs {
  return {
    // With VIO4WD_WORKER_CPUS the mask names lcores (up to DPDK's 128), not CPUs.
    cpuMask: v('VIRTIOFWD_CPU_MASK', '1,2', (e) => parseCpuList(scalar(e), (sharedWorkers ? MAX_LCORES : hostCpus) - 1)),
    logLevel: v('VIRTIOFWD_LOG_LEVEL', '6', intIn(0, 7)),
    hugetlbfsMountPoint: v('VIRTIOFWD_HUGETLBFS_MOUNT_POINT', '/mnt/huge', absPath),
    socketOwner: v('VIRTIOFWD_SOCKET_OWNER', 'libvirt-qemu', text),
    socketGroup: v('VIRTIOFWD_SOCKET_GROUP', 'kvm', text),
    socketDir: v('VIRTIOFWD_SOCKET_DIR', '/tmp/virtio-forwarder', socketDir),
    // Where Neutron's Open vSwitch and OVN drivers (vhostuser_socket_dir, vhost_sock_dir) and
    // TripleO's client mode (NeutronVhostuserSocketDir) have Nova put vhost-user sockets: docs/security.md.
    vhostSocketDirs: v('VIO4WD_VHOST_SOCKET_DIRS', ['/var/run/openvswitch', '/var/lib/vhost_sockets'], socketDirs),
    socketFnamePattern: v('VIRTIOFWD_SOCKET_FNAME_PATTERN', '', socketPattern),
    dynamicSockets: v('VIRTIOFWD_DYNAMIC_SOCKETS', 'false', bool),
    vhostClient: v('VIRTIOFWD_VHOST_CLIENT', 'true', bool),
    staticVfs: v('VIRTIOFWD_STATIC_VFS', [], staticVfs),
    cpuPins: v('VIRTIOFWD_CPU_PINS', [], cpuPins),
    masterLcore: v('VIRTIOFWD_MASTER_LCORE', '0', (e) => (scalar(e) === '' ? 0 : intIn(0, hostCpus - 1)(e))),
    pidDir: v('VIRTIOFWD_PID_DIR', '/var/run', absPath),
    jumbo: v('VIRTIOFWD_JUMBO', 'false', bool),
    mergeableBuffers: v('VIRTIOFWD_MRGBUF', 'false', bool),
    tso: v('VIRTIOFWD_TSO', 'false', bool),
    vfioVfToken: v('VIRTIOFWD_VFIO_VF_TOKEN', '', vfioToken),
    zmqPortControlEp: v('VIRTIOFWD_ZMQ_PORT_CONTROL_EP', DEFAULT_ENDPOINTS.portControl, endpoint),
    zmqStatsEp: v('VIRTIOFWD_ZMQ_STATS_EP', DEFAULT_ENDPOINTS.stats, endpoint),
    zmqCoreSchedEp: v('VIRTIOFWD_ZMQ_CORE_SCHED_EP', DEFAULT_ENDPOINTS.coreSched, endpoint),
    zmqConfigEp: v('VIRTIOFWD_ZMQ_CONFIG_EP', '', optionalEndpoint),
    metricsEp: v('VIO4WD_METRICS_EP', DEFAULT_METRICS.forwarder, metricsEndpoint),
    coreSchedEnable: v('VIO4WD_CORE_SCHED_ENABLE', 'false', bool),
    coreSched: {
      sensitivity: v('VIO4WD_CORE_SCHED_SENSITIVITY', '0.25', decimalIn(0, 1)),
      pollIntervalS: v('VIO4WD_CORE_SCHED_POLL_INTERVAL', '5', decimalIn(0, 3600)),
      logLevel: v('VIO4WD_CORE_SCHED_LOG_LEVEL', '6', intIn(0, 7)),
      globalNumaOpt: v('VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT', 'false', bool),
      keepPins: v('VIO4WD_CORE_SCHED_KEEP_PINS', 'false', bool),
      loadThreshold: v('VIO4WD_CORE_SCHED_LOAD_THRESHOLD', '0.8', decimalIn(0, 1)),
      sustainIntervals: v('VIO4WD_CORE_SCHED_SUSTAIN', '3', intIn(1, 1000)),
      metricsEp: v('VIO4WD_CORE_SCHED_METRICS_EP', DEFAULT_METRICS.coreSched, metricsEndpoint),
    },
    workerCpus: v('VIO4WD_WORKER_CPUS', '', (e) => (scalar(e) === '' ? [] : parseCpuList(scalar(e), hostCpus - 1))),
    deviceAliases: v('VIRTIOFWD_DEVICE_ALIASES', [], deviceAliases),
    dataplaneBinary: v('VIRTIOFWD_BINARY', '/usr/libexec/vio4wd/vio4wd-dataplane', absPath),
    stateDir: v('VIO4WD_STATE_DIR', '/var/lib/vio4wd', absPath),
    controlSocket: v('VIO4WD_CONTROL_SOCKET', '/var/run/virtio-forwarder/dataplane.sock', absPath),
    eal: {
      noHuge: v('VIO4WD_NO_HUGE', 'false', bool),
      memoryMb: v('VIO4WD_MEMORY_MB', '512', intIn(64, 1048576)),
      filePrefix: v('VIO4WD_EAL_FILE_PREFIX', 'virtio-forwarder', withSchema(z.string().regex(/^[A-Za-z0-9_.-]+$/), 'letters, digits, _ . -')),
      extraArgs: v('VIO4WD_EAL_EXTRA_ARGS', [], shellWords),
    },
    idleSleepUs: v('VIO4WD_IDLE_SLEEP_US', '0', intIn(0, 1000)),
    idlePollUs: v('VIO4WD_IDLE_POLL_US', '200', intIn(0, 10000)),
    holdUs: v('VIO4WD_HOLD_US', '10000', intIn(0, 1000000)),
    dataplaneTimeoutMs: v('VIO4WD_DATAPLANE_TIMEOUT_MS', '30000', intIn(100, 600000)),
    bindVfioPci: v('VIRTIOFWD_BIND_VFIO_PCI', [], bindEntries),
    bindVfioPciForce: v('VIO4WD_BIND_VFIO_PCI_FORCE', 'false', bool),
  };
}

/** Every variable's name and default, in the file's order (for the operator's guide). */
export function configVariables(): { name: string; default: string | string[] }[] {
  return flatSpecs(configSpecs(MAX_LCORES, false)).map((s) => ({ name: s.name, default: s.default }));
}

/** Variables of the original that this implementation reads but does not need. */
const ACCEPTED = new Set([
  'VIRTIOFWD_IPC_PORT_CONTROL',
  'VIRTIOFWD_OVSDB_SOCK_PATH',
  'VIRTIOFWD_CPU_NIC_SAME_NUMA',
  'VIRTIOFWD_ZERO_COPY',
]);

export interface LoadedConfig {
  config: Config;
  warnings: string[];
}

export interface ParseOptions {
  /** CPUs on this host (CPU numbers 0 to hostCpus-1 exist). */
  hostCpus?: number;
  /**
   * false: CPU numbers are checked against DPDK's limit only (programs that
   * talk to the forwarder: which CPUs it may use is its own check).
   */
  cpusOfThisHost?: boolean;
}

type Reader = <T>(spec: VarSpec<T>) => T | undefined;

/** The file's order: Config's fields as the table lists them, sections in place. */
function topKeys(specs: ConfigSpecs): (keyof Config)[] {
  return Object.keys(specs) as (keyof Config)[];
}

function readField<K extends TopKey>(specs: TopSpecs, out: TopDraft, key: K, read: Reader): void {
  const spec: VarSpec<Config[K]> = specs[key];
  const value = read<Config[K]>(spec);
  if (value !== undefined) out[key] = value;
}

function readSectionFields<T>(specs: SectionSpecs<T>, out: Partial<T>, read: Reader): void {
  for (const key of Object.keys(specs) as (keyof T)[]) {
    const value = read(specs[key]);
    if (value !== undefined) out[key] = value;
  }
}

function readSection<K extends Section>(specs: SectionsSpecs, out: SectionsDraft, key: K, read: Reader): void {
  readSectionFields<Config[K]>(specs[key], out[key], read);
}

/** Every variable of the table, sections flattened in place. */
function flatSpecs(specs: ConfigSpecs): VarSpec<unknown>[] {
  return topKeys(specs).flatMap((key) => (isSection(key) ? Object.values<VarSpec<unknown>>(specs[key]) : [specs[key]]));
}

/** The fields of Config that parsed (all of them when nothing was wrong). */
type TopDraft = { [K in TopKey]?: Config[K] };
type SectionsDraft = { [K in Section]: Partial<Config[K]> };
type Draft = TopDraft & SectionsDraft;

export function parseConfig(textContent: string, source = 'config', opts: ParseOptions = {}): LoadedConfig {
  const entries = parseConfigText(textContent, source);
  const sharedWorkers = entries.some((e) => e.name === 'VIO4WD_WORKER_CPUS' && e.values.some((v) => v.trim() !== ''));
  const hostCpus = opts.cpusOfThisHost === false ? MAX_LCORES : Math.max(opts.hostCpus ?? os.cpus().length, 1);
  const specs = configSpecs(hostCpus, sharedWorkers);
  const known = new Set(flatSpecs(specs).map((s) => s.name));
  const byName = new Map<string, RawEntry>();
  const warnings: string[] = [];
  for (const e of entries) {
    if (!known.has(e.name) && !ACCEPTED.has(e.name)) warnings.push(`${source}:${e.line}: unknown variable ${e.name} (ignored)`);
    byName.set(e.name, e);
  }
  const problems: string[] = [];
  // The variable's value (or its default); undefined after a problem, which is recorded.
  const read = <T>(spec: VarSpec<T>): T | undefined => {
    const entry: RawEntry = byName.get(spec.name) ?? {
      name: spec.name,
      values: Array.isArray(spec.default) ? spec.default : [spec.default],
      isArray: Array.isArray(spec.default),
      line: 0,
    };
    try {
      return spec.parse(entry);
    } catch (e) {
      if (!(e instanceof VarError)) throw e;
      problems.push(`${source}:${entry.line}: ${spec.name}: ${e.message}`);
      return undefined;
    }
  };
  const config: Draft = { coreSched: {}, eal: {} };
  for (const key of topKeys(specs)) {
    if (isSection(key)) readSection(specs, config, key, read);
    else readField(specs, config, key, read);
  }
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
  // Every field was read, none had a problem: the draft is whole.
  return { config: config as Config, warnings };
}

/** The file itself could not be read; reason: the system's words. */
export class ConfigReadError extends ConfigError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super([`cannot read ${path}: ${reason}`]);
  }
}

export interface ReadOptions extends ParseOptions {
  /**
   * A file it cannot read stands for an empty one: the defaults apply (a
   * program's default file, on a host where only the tools are used).
   */
  optional?: boolean;
}

/**
 * The configuration file of every program: path, or the default file.
 * A file it cannot read (unless optional) or a bad value: a ConfigError
 * naming each problem.
 */
export function readConfig(path: string = DEFAULT_CONFIG_PATH, opts: ReadOptions = {}): LoadedConfig {
  let content: string;
  try {
    content = fs.readFileSync(path, 'utf8');
  } catch (e) {
    if (opts.optional) content = '';
    else throw new ConfigReadError(path, e instanceof Error ? e.message : String(e));
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
