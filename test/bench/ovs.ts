// OVS-DPDK as a relay under test (npm run bench's third contestant):
// Debian's openvswitch-switch-dpdk 3.1 (DPDK 22.11, as ours), unpacked by
// deploy/ovs-tools.sh into the cache, run as processes of the bench's own:
// an ovsdb-server on a private database and an ovs-vswitchd in a network
// namespace of its own (its bridge's internal port is a kernel tap, which
// must not appear on the host), never the system's service. The relay's
// configuration (docs/performance.md, "OVS-DPDK"): userspace datapath,
// one PMD thread on the worker CPU, the VF a dpdk port on the memif vdev,
// the VM a dpdkvhostuserclient port, and two OpenFlow rules that relay port
// to port, as virtio-forwarder does.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';

const CACHE = process.env.VIO4WD_CACHE ?? '/var/cache/vio4wd';
const VSWITCHD = 'usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk';

/** Where deploy/ovs-tools.sh unpacked OVS, or undefined (not there: the contestant is skipped). */
export function ovsRoot(): string | undefined {
  if (!fs.existsSync(CACHE)) return undefined;
  for (const d of fs.readdirSync(CACHE).filter((x) => x.startsWith('ovs-')).sort()) {
    const root = path.join(CACHE, d);
    if (fs.existsSync(path.join(root, VSWITCHD)) && fs.existsSync(path.join(root, 'usr/sbin/ovsdb-server'))) return root;
  }
  return undefined;
}

export interface OvsOptions {
  /** Private directory: database, sockets, logs, pid files. */
  dir: string;
  /** EAL memory arguments (OVS adds --in-memory itself: 2 MiB pages only). */
  eal: string[];
  filePrefix: string;
  /** The VF: devargs of a memif server. */
  vfDevargs: string;
  /** The VM's vhost-user socket (OVS connects to it: dpdkvhostuserclient). */
  vhostPath: string;
  /** CPU of the PMD thread (its other threads stay on CPU 0). */
  pmdCpu: number;
  /** mtu_request=9000 on both interfaces (memif stays at 1500: see docs/performance.md). */
  jumbo: boolean;
}

export interface Ovs {
  /** ovs-vswitchd: the process that relays (the PMD thread's). */
  vswitchd: ResultPromise;
  /** Every process started, for cleanup. */
  procs: ResultPromise[];
  appctl(...args: string[]): Promise<string>;
  vsctl(...args: string[]): Promise<string>;
  /** The negotiated virtio features of the VM port, once connected. */
  features(timeoutMs: number): Promise<number>;
  /** Starts counting the PMD's cycles; the returned function gives its processing cycles per received packet since. */
  cyclesFrom(): Promise<() => Promise<number>>;
  /** Configuration as ovs-vsctl shows it, for the record. */
  describe(): Promise<string>;
  stop(): Promise<void>;
  /** The tail of ovs-vswitchd's log, for errors. */
  logTail(): string;
}

/** "avg processing cycles per packet: 193.05 (7758136516/40186400)" of the PMD thread on cpu. */
export function pmdCycles(stats: string, cpu: number): number {
  const section = stats.split(/\n(?=\S)/).find((s) => new RegExp(`^pmd thread numa_id \\d+ core_id ${cpu}:`).test(s));
  const m = section && /avg processing cycles per packet: ([\d.]+)/.exec(section);
  if (!m) throw new Error(`no PMD thread on CPU ${cpu} with processing cycles in pmd-stats-show:\n${stats}`);
  return Number(m[1]);
}

export async function startOvs(root: string, o: OvsOptions): Promise<Ovs> {
  const env = {
    OVS_RUNDIR: o.dir, OVS_DBDIR: o.dir, OVS_LOGDIR: o.dir, OVS_SYSCONFDIR: o.dir,
    OVS_PKGDATADIR: path.join(root, 'usr/share/openvswitch'), OVS_BINDIR: path.join(root, 'usr/bin'),
  };
  const bin = (x: string) => path.join(root, x);
  const db = `unix:${o.dir}/db.sock`;
  const procs: ResultPromise[] = [];
  const run = async (file: string, args: string[]) => {
    const r = await execa(bin(file), args, { env, reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')}: exit ${String(r.exitCode)}: ${r.stderr}`);
    return r.stdout;
  };
  const vsctl = (...args: string[]) => run('usr/bin/ovs-vsctl', [`--db=${db}`, '--timeout=30', ...args]);
  const appctl = (...args: string[]) => run('usr/bin/ovs-appctl', ['-t', `${o.dir}/vswitchd.ctl`, '--timeout=30', ...args]);
  const ofctl = (...args: string[]) => run('usr/bin/ovs-ofctl', [args[0] ?? '', `unix:${o.dir}/br0.mgmt`, ...args.slice(1)]);
  const log = `${o.dir}/vswitchd.log`;
  const logTail = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-3000) : '(no log)');
  const daemon = (args: string[]) => {
    const p = execa('taskset', ['-c', '0', ...args], { env, reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', buffer: false });
    procs.push(p);
    return p;
  };
  const waitFor = async (what: string, p: string, proc: ResultPromise) => {
    const end = Date.now() + 30000;
    while (!fs.existsSync(p)) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`OVS: ${what} did not start (${p}):\n${logTail()}`);
      await sleep(20);
    }
  };

  await run('usr/bin/ovsdb-tool', ['create', `${o.dir}/conf.db`, bin('usr/share/openvswitch/vswitch.ovsschema')]);
  const ovsdb = daemon([bin('usr/sbin/ovsdb-server'), `--remote=punix:${o.dir}/db.sock`, `--pidfile=${o.dir}/ovsdb-server.pid`,
    `--unixctl=${o.dir}/ovsdb-server.ctl`, `--log-file=${o.dir}/ovsdb-server.log`, `${o.dir}/conf.db`]);
  await waitFor('ovsdb-server', `${o.dir}/db.sock`, ovsdb);
  await vsctl('--no-wait', 'init');
  await vsctl('--no-wait', 'set', 'Open_vSwitch', '.', 'other_config:dpdk-init=true',
    `other_config:pmd-cpu-mask=${(1 << o.pmdCpu).toString(16)}`,
    // Pools sized per port from its queues and MTU (OVS's choice for a few ports), not 256k shared buffers.
    'other_config:per-port-memory=true',
    `other_config:dpdk-extra=${[...o.eal, `--file-prefix=${o.filePrefix}`, '--no-pci', '--log-level=4'].join(' ')}`);
  // Its own network namespace: the bridge's internal port is a kernel tap.
  const vswitchd = daemon(['unshare', '--net', bin(VSWITCHD), db, `--pidfile=${o.dir}/vswitchd.pid`,
    `--unixctl=${o.dir}/vswitchd.ctl`, `--log-file=${log}`]);
  try {
    await waitFor('ovs-vswitchd', `${o.dir}/vswitchd.ctl`, vswitchd);
    const mtu = o.jumbo ? ['mtu_request=9000'] : [];
    await vsctl('add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=netdev',
      '--', 'add-port', 'br0', 'vf', '--', 'set', 'Interface', 'vf', 'type=dpdk', `options:dpdk-devargs=${o.vfDevargs}`, 'ofport_request=1', ...mtu,
      '--', 'add-port', 'br0', 'vm', '--', 'set', 'Interface', 'vm', 'type=dpdkvhostuserclient', `options:vhost-server-path=${o.vhostPath}`,
      'ofport_request=2', ...mtu);
    // Port to port, as a relay: no MAC learning or flooding (NORMAL would flood
    // the generator's broadcast frames to the bridge's own port too).
    await ofctl('del-flows');
    await ofctl('add-flow', 'in_port=1,actions=output:2');
    await ofctl('add-flow', 'in_port=2,actions=output:1');
  } catch (e) {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs);
    throw e;
  }

  return {
    vswitchd, procs, appctl, vsctl, logTail,
    features: async (timeoutMs) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const s = await vsctl('--if-exists', 'get', 'Interface', 'vm', 'status:features').catch(() => '');
        const m = /"?0x([0-9a-f]+)"?/.exec(s);
        if (m?.[1]) return parseInt(m[1], 16);
        if (Date.now() > end) throw new Error(`OVS: the VM port did not connect within ${timeoutMs} ms:\n${logTail()}`);
        await sleep(100);
      }
    },
    cyclesFrom: async () => {
      await appctl('dpif-netdev/pmd-stats-clear');
      return async () => pmdCycles(await appctl('dpif-netdev/pmd-stats-show'), o.pmdCpu);
    },
    describe: async () => [
      await vsctl('get', 'Open_vSwitch', '.', 'other_config'),
      await vsctl('--columns=name,type,options,mtu_request,mtu', 'list', 'Interface'),
      await ofctl('dump-flows'),
    ].join('\n'),
    stop: async () => {
      // As the others: the relay stops before its memif peer goes.
      vswitchd.kill('SIGTERM');
      await vswitchd;
      ovsdb.kill('SIGTERM');
      await ovsdb;
    },
  };
}
