// What each configuration variable is for, who reads it and when it takes
// effect: the operator's guide's table (docs/operations.md) is made from
// this and from the parsers' names and defaults (configVariables()), and a
// test fails if a variable has no entry here or the guide's table is stale.
import { configVariables } from './config.js';

/** Who reads a variable. */
export type Reader = 'virtio-forwarder' | 'vio4wd_core_scheduler' | 'bind unit' | 'tools';

export interface VariableDoc {
  /** The values it takes. */
  values: string;
  reads: Reader[];
  /** When a change takes effect. */
  effect?: string;
  what: string;
}

const FWD: Reader[] = ['virtio-forwarder'];
const SCHED: Reader[] = ['vio4wd_core_scheduler'];
const RESTART_FWD = 'restart of virtio-forwarder';
const RESTART_SCHED = 'restart of vio4wd_core_scheduler';
const BOOL = 'true/false (also yes/no, y/n, 1/0, on/off)';

export const VARIABLE_DOCS: Record<string, VariableDoc> = {
  VIRTIOFWD_CPU_MASK: { values: 'CPU list (1,2 or 1-3) or hex mask (0x6)', reads: FWD, what: 'The worker CPUs: one polling thread each. Not the control CPU (VIRTIOFWD_MASTER_LCORE).' },
  VIRTIOFWD_LOG_LEVEL: { values: '0-7 (syslog priorities)', reads: FWD, what: 'The forwarder\'s and the dataplane\'s log threshold.' },
  VIRTIOFWD_HUGETLBFS_MOUNT_POINT: { values: 'absolute path', reads: FWD, what: 'The hugetlbfs the dataplane takes its 2 MiB pages from; the VMs\' memory must be on hugepages too (libvirt\'s memoryBacking).' },
  VIRTIOFWD_SOCKET_OWNER: { values: 'user name or uid', reads: FWD, what: 'Owner of the vhost-user sockets the forwarder creates (server mode); in client mode, of VIRTIOFWD_SOCKET_DIR.' },
  VIRTIOFWD_SOCKET_GROUP: { values: 'group name or gid', reads: [...FWD, 'vio4wd_core_scheduler'], what: 'Group of the vhost-user sockets and of the ZeroMQ ipc endpoints (0660): who may drive the forwarder.' },
  VIRTIOFWD_SOCKET_DIR: { values: 'absolute path', reads: FWD, what: 'Directory of the vhost-user sockets of static VFs and of add (virtio ids); made if missing.' },
  VIO4WD_VHOST_SOCKET_DIRS: { values: 'bash array of absolute paths', reads: FWD, what: 'Other directories add_sock may name sockets in (where OpenStack puts them); a socket elsewhere is refused.' },
  VIRTIOFWD_SOCKET_FNAME_PATTERN: { values: 'file name with one %u (the virtio id)', reads: FWD, what: 'The socket file name of a virtio id.' },
  VIRTIOFWD_DYNAMIC_SOCKETS: { values: BOOL, reads: FWD, what: 'Relays come and go with add_sock/remove_sock (and add/remove), rather than only from VIRTIOFWD_STATIC_VFS.' },
  VIRTIOFWD_VHOST_CLIENT: { values: BOOL, reads: FWD, what: 'vhost-user client mode: connect to sockets QEMU serves (and reconnect after either side restarts). false: the forwarder serves them.' },
  VIRTIOFWD_STATIC_VFS: { values: 'bash array of PCI=virtio_id', reads: FWD, what: 'Relays plugged at start.' },
  VIRTIOFWD_CPU_PINS: { values: 'bash array of relay:cpu or relay:cpu,cpu', reads: [...FWD, 'vio4wd_core_scheduler'], what: 'Where relays\' directions run from the start (VF->VM, VM->VF).' },
  VIRTIOFWD_MASTER_LCORE: { values: 'a CPU number', reads: FWD, what: 'The dataplane\'s control thread\'s CPU (not a worker).' },
  VIRTIOFWD_PID_DIR: { values: 'absolute path', reads: FWD, what: 'Where the PID file goes (a second forwarder of the same configuration is refused).' },
  VIRTIOFWD_JUMBO: { values: BOOL, reads: FWD, what: 'Jumbo frames (9 KiB buffers) on the VFs and towards the VMs.' },
  VIRTIOFWD_MRGBUF: { values: BOOL, reads: FWD, what: 'Offer mergeable receive buffers to the VMs.' },
  VIRTIOFWD_TSO: { values: BOOL, reads: FWD, what: 'Offer TSO/checksum offloads to the VMs (VFs that do them).' },
  VIRTIOFWD_VFIO_VF_TOKEN: { values: 'empty, 0 or a UUID', reads: FWD, what: 'The VFIO VF token of VFs whose PF is on vfio-pci too (0: DPDK\'s default).' },
  VIRTIOFWD_ZMQ_PORT_CONTROL_EP: { values: 'ZeroMQ endpoint (ipc://, tcp://)', reads: FWD, what: 'Port control (vio4wd-portctl, os-vif).' },
  VIRTIOFWD_ZMQ_STATS_EP: { values: 'ZeroMQ endpoint', reads: [...FWD, 'vio4wd_core_scheduler', 'tools'], what: 'Statistics (vio4wd-stats, the core scheduler).' },
  VIRTIOFWD_ZMQ_CORE_SCHED_EP: { values: 'ZeroMQ endpoint', reads: [...FWD, 'vio4wd_core_scheduler', 'tools'], what: 'CPU migration requests (served when VIO4WD_CORE_SCHED_ENABLE=true).' },
  VIRTIOFWD_ZMQ_CONFIG_EP: { values: 'empty (off) or ZeroMQ endpoint', reads: FWD, what: 'The original\'s relay-to-CPU map query.' },
  VIO4WD_METRICS_EP: { values: 'off, http://HOST:PORT/PATH (port 0: any free one, logged) or unix:/PATH', reads: FWD, what: 'Where the forwarder serves its Prometheus metrics. Default loopback only; 19721 is outside Prometheus\'s exporter range (9100-9999, all taken) and below Linux\'s ephemeral ports.' },
  VIO4WD_CORE_SCHED_ENABLE: { values: BOOL, reads: FWD, what: 'Serve VIRTIOFWD_ZMQ_CORE_SCHED_EP, for vio4wd_core_scheduler and vio4wd-pinner.' },
  VIO4WD_CORE_SCHED_SENSITIVITY: { values: 'above 0, at most 1', reads: SCHED, effect: RESTART_SCHED, what: 'Share of the busiest CPU\'s load above the ideal that a rebalance must remove.' },
  VIO4WD_CORE_SCHED_POLL_INTERVAL: { values: 'seconds, above 0, at most 3600', reads: SCHED, effect: RESTART_SCHED, what: 'Time between load samples.' },
  VIO4WD_CORE_SCHED_LOG_LEVEL: { values: '0-7', reads: SCHED, effect: RESTART_SCHED, what: 'The scheduler\'s log threshold.' },
  VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT: { values: BOOL, reads: SCHED, effect: RESTART_SCHED, what: 'Move relays to workers of any NUMA node, not only their own.' },
  VIO4WD_CORE_SCHED_KEEP_PINS: { values: BOOL, reads: SCHED, effect: RESTART_SCHED, what: 'Never move relays pinned by VIRTIOFWD_CPU_PINS.' },
  VIO4WD_CORE_SCHED_LOAD_THRESHOLD: { values: 'above 0, at most 1', reads: SCHED, effect: RESTART_SCHED, what: 'A worker busier than this counts as overloaded.' },
  VIO4WD_CORE_SCHED_SUSTAIN: { values: '1-1000 polls', reads: SCHED, effect: RESTART_SCHED, what: 'How long a worker stays overloaded before relays move.' },
  VIO4WD_CORE_SCHED_METRICS_EP: { values: 'as VIO4WD_METRICS_EP', reads: SCHED, effect: RESTART_SCHED, what: 'Where the core scheduler serves its metrics (default http://127.0.0.1:19722/metrics; its unit allows localhost only: another address needs IPAddressAllow= in a drop-in).' },
  VIO4WD_WORKER_CPUS: { values: 'empty or CPU list', reads: FWD, what: 'Run all worker lcores on these CPUs (more workers than CPUs: tests, small hosts). Empty: worker N on CPU N.' },
  VIRTIOFWD_DEVICE_ALIASES: { values: 'bash array of PCI=DPDK device arguments', reads: FWD, what: 'VFs that are not PCI devices (net_tap, net_af_packet, net_memif...) under a PCI-looking name: tests and demos.' },
  VIRTIOFWD_BINARY: { values: 'absolute path', reads: [...FWD, 'vio4wd_core_scheduler'], what: 'The dataplane program (and, beside it, vio4wd-notify).' },
  VIO4WD_STATE_DIR: { values: 'absolute path', reads: FWD, what: 'Where the relays added at run time are saved (relays.json), to be restored after a restart.' },
  VIO4WD_CONTROL_SOCKET: { values: 'absolute path', reads: FWD, what: 'The supervisor\'s socket to its dataplane.' },
  VIO4WD_NO_HUGE: { values: BOOL, reads: FWD, what: 'Run the dataplane on 4 KiB pages (tests; VMs must then share memory as files, not hugepages).' },
  VIO4WD_MEMORY_MB: { values: '64-1048576', reads: FWD, what: 'The dataplane\'s memory, MiB (grown by what the relays need).' },
  VIO4WD_EAL_FILE_PREFIX: { values: 'letters, digits, _ . -', reads: FWD, what: 'DPDK\'s --file-prefix: tell this forwarder\'s runtime files from another DPDK process\'s.' },
  VIO4WD_EAL_EXTRA_ARGS: { values: 'words, as a shell splits them', reads: FWD, what: 'More DPDK EAL arguments (e.g. --log-level=pmd.net.mlx5:8).' },
  VIO4WD_IDLE_SLEEP_US: { values: '0-1000', reads: FWD, what: 'A worker that found nothing 1024 times in a row sleeps this long (0: always poll).' },
  VIO4WD_IDLE_POLL_US: { values: '0-10000', reads: FWD, what: 'A relay direction that moved nothing for 10 ms is polled every this many us, not on every pass, until it moves packets again: quiet relays cost their busy neighbours on the worker little; the first packet after the quiet spell waits up to this long (0: poll every direction on every pass).' },
  VIO4WD_HOLD_US: { values: '0-1000000', reads: FWD, what: 'How long a burst the destination cannot take is held before it is dropped (queue_full).' },
  VIO4WD_DATAPLANE_TIMEOUT_MS: { values: '100-600000', reads: FWD, what: 'How long the supervisor waits for its dataplane\'s answer before it kills and restarts it.' },
  VIRTIOFWD_BIND_VFIO_PCI: { values: 'bash array: PCI addresses, netdev (its VFs), netdev:N', reads: ['bind unit', 'virtio-forwarder'], effect: 'restart of virtio-forwarder (its bind unit runs first)', what: 'Devices bound to vfio-pci before the forwarder starts (never unbound).' },
  VIO4WD_BIND_VFIO_PCI_FORCE: { values: BOOL, reads: ['bind unit', 'virtio-forwarder'], effect: 'restart of virtio-forwarder', what: 'Bind even a device whose interface is up with an address.' },
};

/** A variable's default as the file would say it. */
function shownDefault(d: string | string[]): string {
  if (Array.isArray(d)) return d.length ? `(${d.join(' ')})` : 'empty';
  return d === '' ? 'empty' : d;
}

const cell = (t: string) => t.replace(/\|/g, '\\|');

/**
 * The guide's table: every variable the parser reads, in the file's order,
 * with its default from the parser itself. Throws for a variable without an
 * entry in VARIABLE_DOCS, or an entry for a variable that is not read.
 */
export function renderVariableTable(): string {
  const vars = configVariables();
  const missing = vars.filter((v) => !(v.name in VARIABLE_DOCS)).map((v) => v.name);
  const extra = Object.keys(VARIABLE_DOCS).filter((n) => !vars.some((v) => v.name === n));
  if (missing.length || extra.length) throw new Error(`VARIABLE_DOCS: undocumented ${missing.join(', ') || '-'}; not read ${extra.join(', ') || '-'}`);
  const rows = vars.map((v) => {
    const d = VARIABLE_DOCS[v.name] as VariableDoc;
    const effect = d.effect ?? (d.reads.includes('virtio-forwarder') ? RESTART_FWD : RESTART_SCHED);
    const when = d.reads.includes('tools') ? `${effect}; the tools: their next run` : effect;
    return `| \`${v.name}\` | ${cell(d.values)} | \`${cell(shownDefault(v.default))}\` | ${d.reads.join(', ')} | ${when} | ${cell(d.what)} |`;
  });
  return ['| variable | values | default | read by | takes effect at | what for |', '|---|---|---|---|---|---|', ...rows].join('\n');
}
