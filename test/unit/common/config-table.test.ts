// A table of whole configuration files, good and bad, with the exact result
// of each: the values read, or every problem reported. The host has 4 CPUs
// (0-3) whatever machine runs this. The table is printed, for the record.
import { afterAll, describe, expect, test } from '@jest/globals';
import { ConfigError, parseConfig, type Config } from '@vio4wd/common';

const host = { hostCpus: 4 };

type Picked = Partial<Pick<Config, 'cpuMask' | 'workerCpus' | 'staticVfs' | 'cpuPins' | 'vfioVfToken' | 'masterLcore' | 'socketDir' | 'coreSched' | 'coreSchedEnable' | 'metricsEp'>>;
type Row = [label: string, file: string, expected: { ok: Picked } | { errors: string[] }];

const vf = (pci: string, virtioId: number) => ({ pci, virtioId });
const pin = (relay: number, vfToVm: number, vmToVf: number) => ({ relay, vfToVm, vmToVf });

const rows: Row[] = [
  // Arrays: the guide's three notations, and more than one line.
  ['static VFs, plain value', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=0000:05:08.1=1', { ok: { staticVfs: [vf('0000:05:08.1', 1)] } }],
  ['static VFs, one-element array', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=(0000:05:08.1=1)', { ok: { staticVfs: [vf('0000:05:08.1', 1)] } }],
  ['static VFs, array', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=2 0000:05:08.3=3)',
    { ok: { staticVfs: [vf('0000:05:08.1', 1), vf('0000:05:08.2', 2), vf('0000:05:08.3', 3)] } }],
  ['static VFs, array over lines with a comment and quotes',
    'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=(\n  0000:05:08.1=1   # first VF\n  "0000:05:08.2=2"\n)',
    { ok: { staticVfs: [vf('0000:05:08.1', 1), vf('0000:05:08.2', 2)] } }],
  ['CPU pins, plain value', 'VIRTIOFWD_CPU_MASK=1,2\nVIRTIOFWD_CPU_PINS=--virtio-cpu=0:1', { ok: { cpuPins: [pin(0, 1, 1)] } }],
  ['CPU pins, array', 'VIRTIOFWD_CPU_MASK=1,2\nVIRTIOFWD_CPU_PINS=(--virtio-cpu=0:1 --virtio-cpu=1:2,1)', { ok: { cpuPins: [pin(0, 1, 1), pin(1, 2, 1)] } }],
  ['CPU pins, semicolon list', 'VIRTIOFWD_CPU_MASK=1,2\nVIRTIOFWD_CPU_PINS="0:1;1:1,2"', { ok: { cpuPins: [pin(0, 1, 1), pin(1, 1, 2)] } }],
  // CPU masks.
  ['hex mask', 'VIRTIOFWD_CPU_MASK=0x6', { ok: { cpuMask: [1, 2] } }],
  ['hex mask, upper case', 'VIRTIOFWD_CPU_MASK=0xE', { ok: { cpuMask: [1, 2, 3] } }],
  ['list with a range', 'VIRTIOFWD_CPU_MASK=1,2-3', { ok: { cpuMask: [1, 2, 3] } }],
  ['master lcore moved', 'VIRTIOFWD_CPU_MASK=0,1\nVIRTIOFWD_MASTER_LCORE=3', { ok: { cpuMask: [0, 1], masterLcore: 3 } }],
  ['CPU above the host', 'VIRTIOFWD_CPU_MASK=1,4', { errors: ['f:1: VIRTIOFWD_CPU_MASK: CPU 4 does not exist (this host has CPUs 0-3)'] }],
  ['hex mask above the host', 'VIRTIOFWD_CPU_MASK=0x10', { errors: ['f:1: VIRTIOFWD_CPU_MASK: mask 0x10 names a CPU above 3'] }],
  ['empty hex mask', 'VIRTIOFWD_CPU_MASK=0x0', { errors: ['f:1: VIRTIOFWD_CPU_MASK: names no CPU'] }],
  ['backward range', 'VIRTIOFWD_CPU_MASK=3-1', { errors: ['f:1: VIRTIOFWD_CPU_MASK: range 3-1 runs backwards'] }],
  ['not a mask', 'VIRTIOFWD_CPU_MASK=0x', { errors: ["f:1: VIRTIOFWD_CPU_MASK: '0x' is not a CPU list (0,1,2 or 0-3) nor a hex mask (0x6)"] }],
  ['mask holding the master lcore', 'VIRTIOFWD_CPU_MASK=0,1',
    { errors: ["f:1: VIRTIOFWD_CPU_MASK: CPU 0 is VIRTIOFWD_MASTER_LCORE's; the control thread needs a CPU of its own"] }],
  ['master lcore above the host', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_MASTER_LCORE=9',
    { errors: ["f:2: VIRTIOFWD_MASTER_LCORE: '9' is not allowed; allowed: an integer from 0 to 3"] }],
  // Pins outside the mask.
  ['pin outside the mask', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_CPU_PINS=(1:2)',
    { errors: ['f:2: VIRTIOFWD_CPU_PINS: CPU 2 of relay 1 is not in VIRTIOFWD_CPU_MASK (1)'] }],
  ['second CPU of a pin outside the mask', 'VIRTIOFWD_CPU_MASK=1,2\nVIRTIOFWD_CPU_PINS="0:1;1:2,3"',
    { errors: ['f:2: VIRTIOFWD_CPU_PINS: CPU 3 of relay 1 is not in VIRTIOFWD_CPU_MASK (1,2)'] }],
  ['pin naming a relay above 63', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_CPU_PINS=64:1',
    { errors: ["f:2: VIRTIOFWD_CPU_PINS: relay 64 in '64:1' is outside 0-63"] }],
  // PCI addresses.
  ['short PCI address', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:5:8=2)',
    { errors: ["f:2: VIRTIOFWD_STATIC_VFS: '0000:5:8' is not a PCI address (DDDD:BB:SS.F)"] }],
  ['PCI slot above 1f', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=0000:05:20.1=1',
    { errors: ["f:2: VIRTIOFWD_STATIC_VFS: '0000:05:20.1' is not a PCI address (DDDD:BB:SS.F)"] }],
  ['PCI function above 7', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=0000:05:08.8=1',
    { errors: ["f:2: VIRTIOFWD_STATIC_VFS: '0000:05:08.8' is not a PCI address (DDDD:BB:SS.F)"] }],
  ['virtio id given twice', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=1)',
    { errors: ['f:2: VIRTIOFWD_STATIC_VFS: virtio id 1 is given twice'] }],
  // VFIO VF token.
  ['token 0', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_VFIO_VF_TOKEN=0', { ok: { vfioVfToken: '0' } }],
  ['token empty', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_VFIO_VF_TOKEN=', { ok: { vfioVfToken: null } }],
  ['token UUID, upper case', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_VFIO_VF_TOKEN=14D63F20-8445-11EA-8900-1F9CE7D5650D',
    { ok: { vfioVfToken: '14d63f20-8445-11ea-8900-1f9ce7d5650d' } }],
  ['token UUID one digit short', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_VFIO_VF_TOKEN=14d63f20-8445-11ea-8900-1f9ce7d5650',
    { errors: ["f:2: VIRTIOFWD_VFIO_VF_TOKEN: '14d63f20-8445-11ea-8900-1f9ce7d5650' is not allowed; allowed: empty (no token), 0 (default token) or a UUID"] }],
  ['token with a non-hex digit', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_VFIO_VF_TOKEN=14d63f20-8445-11ea-8900-1f9ce7d5650g',
    { errors: ["f:2: VIRTIOFWD_VFIO_VF_TOKEN: '14d63f20-8445-11ea-8900-1f9ce7d5650g' is not allowed; allowed: empty (no token), 0 (default token) or a UUID"] }],
  // Metrics endpoints.
  ['metrics default', 'VIRTIOFWD_CPU_MASK=1', { ok: { metricsEp: { kind: 'http', host: '127.0.0.1', port: 19721, path: '/metrics' } } }],
  ['metrics off', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_METRICS_EP=off', { ok: { metricsEp: { kind: 'off' } } }],
  ['metrics on IPv6 loopback, own path', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_METRICS_EP=http://[::1]:9999/x/m', { ok: { metricsEp: { kind: 'http', host: '::1', port: 9999, path: '/x/m' } } }],
  ['metrics on a free port', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_METRICS_EP=http://localhost:0', { ok: { metricsEp: { kind: 'http', host: 'localhost', port: 0, path: '/metrics' } } }],
  ['metrics on a unix socket', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_METRICS_EP=unix:/run/v//m.sock', { ok: { metricsEp: { kind: 'unix', socket: '/run/v/m.sock', path: '/metrics' } } }],
  ['metrics on a bare socket path', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_CORE_SCHED_METRICS_EP=/run/s.sock',
    { ok: { coreSched: { sensitivity: 0.25, pollIntervalS: 5, logLevel: 6, globalNumaOpt: false, keepPins: false, loadThreshold: 0.8, sustainIntervals: 3, metricsEp: { kind: 'unix', socket: '/run/s.sock', path: '/metrics' } } } }],
  ['metrics without a port', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_METRICS_EP=http://127.0.0.1/metrics',
    { errors: ["f:2: VIO4WD_METRICS_EP: 'http://127.0.0.1/metrics' is not off, an http:// URL with a port, nor a unix socket; allowed: off, http://HOST:PORT/PATH (e.g. http://127.0.0.1:19721/metrics) or a unix socket (unix:/run/vio4wd/metrics.sock)"] }],
  ['metrics port too big', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_METRICS_EP=http://127.0.0.1:65536/metrics',
    { errors: ["f:2: VIO4WD_METRICS_EP: 'http://127.0.0.1:65536/metrics' has a port above 65535; allowed: off, http://HOST:PORT/PATH (e.g. http://127.0.0.1:19721/metrics) or a unix socket (unix:/run/vio4wd/metrics.sock)"] }],
  ['metrics over https', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_CORE_SCHED_METRICS_EP=https://127.0.0.1:1/metrics',
    { errors: ["f:2: VIO4WD_CORE_SCHED_METRICS_EP: 'https://127.0.0.1:1/metrics' is https (serve it behind a TLS proxy); allowed: off, http://HOST:PORT/PATH (e.g. http://127.0.0.1:19721/metrics) or a unix socket (unix:/run/vio4wd/metrics.sock)"] }],
  ['metrics on a relative socket', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_METRICS_EP=unix:m.sock',
    { errors: ["f:2: VIO4WD_METRICS_EP: 'unix:m.sock' is not an absolute socket path; allowed: off, http://HOST:PORT/PATH (e.g. http://127.0.0.1:19721/metrics) or a unix socket (unix:/run/vio4wd/metrics.sock)"] }],
  ['metrics socket path too long', `VIRTIOFWD_CPU_MASK=1\nVIO4WD_METRICS_EP=/${'a'.repeat(107)}`,
    { errors: [`f:2: VIO4WD_METRICS_EP: '/${'a'.repeat(107)}' is longer than a unix socket path may be (107 bytes); allowed: off, http://HOST:PORT/PATH (e.g. http://127.0.0.1:19721/metrics) or a unix socket (unix:/run/vio4wd/metrics.sock)`] }],
  // Core scheduler.
  ['core scheduler defaults', 'VIRTIOFWD_CPU_MASK=1', { ok: { coreSchedEnable: false, coreSched: { sensitivity: 0.25, pollIntervalS: 5, logLevel: 6, globalNumaOpt: false, keepPins: false, loadThreshold: 0.8, sustainIntervals: 3, metricsEp: { kind: 'http', host: '127.0.0.1', port: 19722, path: '/metrics' } } } }],
  ['core scheduler set', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_CORE_SCHED_ENABLE=true\nVIO4WD_CORE_SCHED_SENSITIVITY=0.1\nVIO4WD_CORE_SCHED_POLL_INTERVAL=2.5\nVIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT=yes\nVIO4WD_CORE_SCHED_KEEP_PINS=true\nVIO4WD_CORE_SCHED_LOAD_THRESHOLD=0.9\nVIO4WD_CORE_SCHED_SUSTAIN=12',
    { ok: { coreSchedEnable: true, coreSched: { sensitivity: 0.1, pollIntervalS: 2.5, logLevel: 6, globalNumaOpt: true, keepPins: true, loadThreshold: 0.9, sustainIntervals: 12, metricsEp: { kind: 'http', host: '127.0.0.1', port: 19722, path: '/metrics' } } } }],
  ['core scheduler sustain of 0', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_CORE_SCHED_SUSTAIN=0',
    { errors: ["f:2: VIO4WD_CORE_SCHED_SUSTAIN: '0' is not allowed; allowed: an integer from 1 to 1000"] }],
  ['worker lcores sharing CPUs', 'VIRTIOFWD_CPU_MASK=1-3\nVIO4WD_WORKER_CPUS=1', { ok: { cpuMask: [1, 2, 3], workerCpus: [1] } }],
  ['worker lcores above the host without VIO4WD_WORKER_CPUS', 'VIRTIOFWD_CPU_MASK=1-5',
    { errors: ['f:1: VIRTIOFWD_CPU_MASK: CPU 4 does not exist (this host has CPUs 0-3)'] }],
  ['core scheduler sensitivity of 0', 'VIRTIOFWD_CPU_MASK=1\nVIO4WD_CORE_SCHED_SENSITIVITY=0',
    { errors: ["f:2: VIO4WD_CORE_SCHED_SENSITIVITY: '0' is not allowed; allowed: a number above 0, at most 1"] }],
  // The file itself.
  ['quoted value with spaces', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_SOCKET_DIR="/run/vm sockets"  # comment', { ok: { socketDir: '/run/vm sockets' } }],
  ['unterminated quote', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_SOCKET_DIR="/tmp/x', { errors: ['f:2: unterminated " quote'] }],
  ['array without its )', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_STATIC_VFS=(0000:05:08.1=1\n', { errors: ["f:2: VIRTIOFWD_STATIC_VFS: array is missing its closing ')'"] }],
  ['several problems, all reported', 'VIRTIOFWD_CPU_MASK=1\nVIRTIOFWD_LOG_LEVEL=9\nVIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=1)\nVIRTIOFWD_CPU_PINS=0:3',
    { errors: [
      "f:2: VIRTIOFWD_LOG_LEVEL: '9' is not allowed; allowed: an integer from 0 to 7",
      'f:4: VIRTIOFWD_CPU_PINS: CPU 3 of relay 0 is not in VIRTIOFWD_CPU_MASK (1)',
      'f:3: VIRTIOFWD_STATIC_VFS: virtio id 1 is given twice',
    ] }],
];

function outcome(file: string): { ok: Picked } | { errors: string[] } {
  try {
    const { config } = parseConfig(file, 'f', host);
    return { ok: config };
  } catch (e) {
    if (e instanceof ConfigError) return { errors: e.problems };
    throw e;
  }
}

const printed: string[] = [];
afterAll(() => {
  console.log(`configuration table (host CPUs 0-3):\n${printed.join('\n')}`);
});

describe('configuration files: exact results', () => {
  test.each(rows)('%s', (label, file, expected) => {
    const got = outcome(file);
    if ('ok' in expected) {
      expect(got).toHaveProperty('ok');
      if ('ok' in got) {
        const picked = Object.fromEntries(Object.keys(expected.ok).map((k) => [k, got.ok[k as keyof Picked]]));
        expect(picked).toEqual(expected.ok);
        printed.push(`| ${label} | \`${file.replace(/\n/g, '⏎')}\` | ok ${JSON.stringify(picked)} |`);
      }
    } else {
      expect(got).toEqual(expected);
      printed.push(`| ${label} | \`${file.replace(/\n/g, '⏎')}\` | ${expected.errors.join('; ')} |`);
    }
  });
});
