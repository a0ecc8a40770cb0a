// Start-up and shut-down of the service as an operator sees them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { DataplaneClient, DataplaneError } from '@vio4wd/common';
import { pciDriversLoaded } from '@vio4wd/forwarder';
import { FORWARDER_BIN, Forwarder, PORTCTL_BIN, STATS_BIN, cleanDpdkRuntime, processAlive } from '../lib/forwarder.js';

jest.setTimeout(60000);

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) {
    cleanDpdkRuntime(`vio4wd-${path.basename(d)}`);
    fs.rmSync(d, { recursive: true, force: true });
  }
  dirs = [];
});

describe('service lifecycle', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)('%s stops the supervisor and the dataplane cleanly', async (signal) => {
    const dir = Forwarder.scratch('life');
    dirs.push(dir);
    const fwd = Forwarder.write(dir, { vhostClient: false, extra: ['VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0)'] });
    await fwd.start();
    expect((await fwd.portctl('add', '--virtio-id=4', '--pci-addr=0000:ff:00.1')).exitCode).toBe(0);
    const dataplanePid = fwd.dataplanePid;
    expect(processAlive(dataplanePid)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'virtio-forwarder.pid'), 'utf8').trim()).toBe(String(fwd.pid));

    const code = await fwd.stop(signal);
    expect(code).toBe(0);
    expect(fwd.log).toMatch(/vio4wd: relay 4 removed/);
    expect(fwd.log).toMatch(/dataplane stopped \(exit code 0\)/);
    expect(processAlive(dataplanePid)).toBe(false);
    for (const f of ['virtio-forwarder.pid', 'port_control', 'stats', 'dataplane.sock', 'vhost/virtio-forwarder4.sock'])
      expect(fs.existsSync(path.join(dir, f))).toBe(false);
  });

  test('a relay identity (--ident) is in stats, the log and the state file, and comes back after a restart; OpenStack socket names give one', async () => {
    const dir = Forwarder.scratch('ident');
    dirs.push(dir);
    const fwd = Forwarder.write(dir, { vhostClient: false, extra: [
      'VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0 0000:ff:00.2=net_null1)', 'VIRTIOFWD_DYNAMIC_SOCKETS=true'] });
    await fwd.start();
    expect((await fwd.portctl('add', '--virtio-id=4', '--pci-addr=0000:ff:00.1', '--ident=vm-7 eth0')).exitCode).toBe(0);
    // An os-vif socket name (vhu + 11 characters of the Neutron port id), in VIRTIOFWD_SOCKET_DIR.
    const vhu = path.join(dir, 'vhost', 'vhu3f2b9c1a-4d');
    expect((await fwd.portctl('add_sock', `--vhost-path=${vhu}`, '--pci-addr=0000:ff:00.2')).exitCode).toBe(0);
    const bad = await fwd.portctl('add_sock', `--vhost-path=${dir}/vhost/x.sock`, '--pci-addr=0000:ff:00.2', '--ident=a\tb');
    expect([bad.exitCode, bad.stderr]).toEqual([1, expect.stringMatching(/identity "a\\tb" holds a control character .*\(error 22\)/)]);
    const idents = async () => (await fwd.stats()).relay.map((r) => [r.id, r.ident]);
    expect(await idents()).toEqual([[0, 'neutron:3f2b9c1a-4d'], [4, 'vm-7 eth0']]);
    const text = await execa('node', [STATS_BIN, '--zmq_ep', `ipc://${dir}/stats`, '--delay=0'], { reject: false });
    expect(text.stdout).toMatch(/relay 4 .* ident "vm-7 eth0"/);
    expect(fwd.log).toMatch(/relay 4 \(vm-7 eth0\) added: VF 0000:ff:00.1/);
    expect(fwd.log).toMatch(/relay 0 \(neutron:3f2b9c1a-4d\) added/);
    // The dataplane has it too, for its own lines about the relay; asked directly, it checks it.
    expect(fwd.log).toMatch(/vio4wd: relay 4 \(vm-7 eth0\) added: VF net_null0/);
    const client = new DataplaneClient(path.join(dir, 'dataplane.sock'));
    await client.connect();
    try {
      const tryAdd = async (ident: string) => client.addRelay({ id: 9, vf: 'net_null5', vhostPath: `${dir}/vhost/i.sock`, vhostClient: false, ident })
        .then(() => 'added', (e: unknown) => (e instanceof DataplaneError ? e.message : String(e)));
      expect(await tryAdd('a\u0001b')).toBe('ident must be printable text');
      expect(await tryAdd('x'.repeat(129))).toBe('ident must be 1 to 128 bytes');
    } finally {
      client.close();
    }
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'state', 'relays.json'), 'utf8'))).toMatchObject({
      relays: [expect.objectContaining({ id: 0 }), expect.objectContaining({ id: 4, ident: 'vm-7 eth0' })] });
    // A restart of the service restores it.
    expect(await fwd.stop()).toBe(0);
    await fwd.start();
    expect(await idents()).toEqual([[0, 'neutron:3f2b9c1a-4d'], [4, 'vm-7 eth0']]);
    expect(fwd.log).toMatch(/relay 4 \(vm-7 eth0\) plugged/);
    expect(await fwd.stop()).toBe(0);
  });

  test('a second instance on the same configuration is refused and leaves the running one alone', async () => {
    const dir = Forwarder.scratch('twice');
    dirs.push(dir);
    const fwd = Forwarder.write(dir, { vhostClient: false, extra: ['VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0)'] });
    await fwd.start();
    expect((await fwd.portctl('add', '--virtio-id=2', '--pci-addr=0000:ff:00.1')).exitCode).toBe(0);
    const second = await execa('node', [FORWARDER_BIN, '--config', fwd.configPath], { reject: false });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^<3>virtio-forwarder: virtio-forwarder is already running with this configuration \\(pid ${fwd.pid}, ${dir}/virtio-forwarder.pid\\)`, 'm'));
    expect(`${second.stdout}${second.stderr}`).not.toMatch(/starting .*vio4wd-dataplane/);
    // The first one still serves, with its PID file, sockets and relay.
    expect(fs.readFileSync(path.join(dir, 'virtio-forwarder.pid'), 'utf8').trim()).toBe(String(fwd.pid));
    expect((await fwd.stats()).relay.map((r) => r.id)).toEqual([2]);
    expect(await fwd.stop()).toBe(0);
    expect(fs.existsSync(path.join(dir, 'virtio-forwarder.pid'))).toBe(false);
  });

  test('a bad configuration is refused before anything starts, naming the variable and line', async () => {
    const dir = Forwarder.scratch('conf');
    dirs.push(dir);
    const fwd = Forwarder.write(dir, { vhostClient: false, extra: ['VIRTIOFWD_LOG_LEVEL=9'] });
    const r = await execa('node', [FORWARDER_BIN, '--config', fwd.configPath], { reject: false });
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toMatch(/^<3>virtio-forwarder: config: .*virtioforwarder:\d+: VIRTIOFWD_LOG_LEVEL: '9' is not allowed; allowed: an integer from 0 to 7$/m);
    expect(fs.existsSync(path.join(dir, 'dataplane.sock'))).toBe(false);
  });

  test('a host that fails the pre-flight checks is refused before the dataplane starts, every problem at once', async () => {
    const dir = Forwarder.scratch('pre');
    dirs.push(dir);
    fs.mkdirSync(`${dir}/not-huge`);
    fs.writeFileSync(`${dir}/file`, '');
    const fwd = Forwarder.write(dir, {
      vhostClient: false,
      extra: [
        'VIO4WD_NO_HUGE=false',
        `VIRTIOFWD_HUGETLBFS_MOUNT_POINT=${dir}/not-huge`,
        `VIO4WD_STATE_DIR=${dir}/file/state`,
        'VIRTIOFWD_STATIC_VFS=0000:05:08.1=1',
      ],
    });
    const r = await execa('node', [FORWARDER_BIN, '--config', fwd.configPath], { reject: false });
    expect(r.exitCode).toBe(78);
    const lines = r.stderr.split('\n').filter((l) => l.includes('pre-flight'));
    expect(lines[0]).toBe(`<3>virtio-forwarder: pre-flight: VIRTIOFWD_HUGETLBFS_MOUNT_POINT: no hugetlbfs is mounted on ${dir}/not-huge ` +
      `(mkdir -p ${dir}/not-huge && mount -t hugetlbfs -o pagesize=2M nodev ${dir}/not-huge)`);
    expect(lines.some((l) => l.startsWith(`<3>virtio-forwarder: pre-flight: VIO4WD_STATE_DIR ${dir}/file/state is not a writable directory: ENOTDIR`))).toBe(true);
    if (pciDriversLoaded().length === 0)
      expect(lines).toContain('<3>virtio-forwarder: pre-flight: VF 0000:05:08.1 is a PCI device and no driver DPDK can use is loaded (modprobe vfio-pci, and bind the VF to it)');
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/starting .*vio4wd-dataplane/);
    expect(fs.existsSync(path.join(dir, 'dataplane.sock'))).toBe(false);
  });

  test.each([
    ['a socket path', (dir: string) => `${dir}/notify`],
    ['an abstract socket', (dir: string) => `@vio4wd-test-${path.basename(dir)}`],
  ])('READY=1 reaches $NOTIFY_SOCKET (%s) once the endpoints serve; the ipc files are root:group 0660', async (_kind, where) => {
    const dir = Forwarder.scratch('ntf');
    dirs.push(dir);
    const notifySocket = where(dir);
    // A service manager's end of the socket (Node.js has no unix datagram sockets; Python does).
    const listener = execa('/usr/bin/python3', ['-c', [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      "a = sys.argv[1]",
      "s.bind('\\0' + a[1:] if a.startswith('@') else a)",
      "print('bound', flush=True)",
      'while True:',
      "    print(s.recv(4096).decode().replace('\\n', '|'), flush=True)",
    ].join('\n'), notifySocket], { buffer: false, reject: false, stdout: 'pipe' });
    let heard = '';
    listener.stdout.on('data', (d: Buffer) => {
      heard += d.toString();
    });
    try {
      for (let i = 0; i < 100 && !heard.includes('bound'); i++) await new Promise((r) => setTimeout(r, 50));
      const fwd = Forwarder.write(dir, { vhostClient: false, extra: ['VIRTIOFWD_SOCKET_GROUP=nogroup'] });
      await fwd.start(30000, { NOTIFY_SOCKET: notifySocket });
      for (let i = 0; i < 100 && !heard.includes('READY=1'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(heard.split('\n').filter((l) => l !== 'bound' && l !== '')).toEqual(['READY=1|STATUS=0 relay(s), vhost-user server mode']);
      // Ready means serving: port control answers at once.
      expect((await fwd.portctl('query_pci', `--vhost-path=${dir}/none.sock`)).stderr).toMatch(/query_pci failed/);
      for (const ep of ['port_control', 'stats']) {
        const st = fs.statSync(path.join(dir, ep));
        expect({ ep, uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ ep, uid: 0, gid: 65534, mode: 0o660 });
      }
      expect(await fwd.stop()).toBe(0);
    } finally {
      listener.kill();
      await listener;
    }
  });

  test.each([
    ['--relay=64', '--relay 64: relay ids are 0-63'],
    ['--delay=10001', '--delay 10001: give whole milliseconds from 0 to 10000'],
    ['--delay=1.5', '--delay 1.5: give whole milliseconds from 0 to 10000'],
  ])('vio4wd-stats %s is refused before anything is sent (exit 2)', async (arg, message) => {
    const r = await execa('node', [STATS_BIN, arg, '--zmq_ep', `ipc://${os.tmpdir()}/vio4wd-nobody-${process.pid}`, '--json'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe(message);
  });

  test('vio4wd-portctl says clearly, at once, when nothing serves the endpoint, with its own exit code', async () => {
    const file = `${os.tmpdir()}/vio4wd-nobody-${process.pid}`;
    const r = await execa('node', [PORTCTL_BIN, 'add', '--virtio-id=1', '--pci-addr=0000:05:08.1', '--zmq_ep', `ipc://${file}`], { reject: false });
    expect(r.exitCode).toBe(3);
    expect(r.stderr.trim()).toBe(`cannot reach ipc://${file}: there is no socket ${file} (virtio-forwarder is not running, or serves another endpoint)`);
  });

  test.each([['vio4wd-portctl', PORTCTL_BIN, 'add'], ['vio4wd-stats', STATS_BIN, '--delay=0']])('%s --timeout takes whole milliseconds only', async (_name, bin, arg) => {
    const r = await execa('node', [bin, arg, '--timeout=0.5', '--zmq_ep', `ipc://${os.tmpdir()}/vio4wd-nobody-${process.pid}`], { reject: false });
    expect([r.exitCode, r.stderr.trim()]).toEqual([2, '--timeout 0.5: give whole milliseconds from 1 to 3600000']);
  });
});
