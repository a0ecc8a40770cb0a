// What a port-control client may make the root daemon touch: vhost-user
// sockets only in the allowed directories, whatever the path says and
// whatever is swapped into it; the refusals name the rule, and nothing is
// created. The supervisor checks first; the dataplane checks again where the
// socket is made (asked directly here too), through a pinned directory.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, jest, test } from '@jest/globals';
import { DataplaneClient, DataplaneError } from '@vio4wd/common';
import { startDataplane, type Cleanup } from '../lib/dataplane.js';
import { Forwarder, cleanDpdkRuntime } from '../lib/forwarder.js';
import { sharedForwarder } from '../lib/fixtures.js';

jest.setTimeout(120000);

const ALIASES = 'VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0 0000:ff:00.2=net_null1 0000:ff:00.3=net_null2)';

const fwd = sharedForwarder(
  'sp',
  (d) => ({ vhostClient: false, extra: [ALIASES, `VIO4WD_VHOST_SOCKET_DIRS=(${d}/allowed)`] }),
  (d) => fs.mkdirSync(`${d}/allowed`),
);
const dir = fwd.dir;
/** A directory outside every allowed one. */
const outside = Forwarder.scratch('spx');
afterAll(() => fs.rmSync(outside, { recursive: true, force: true }));

async function relayCount(): Promise<number> {
  return (await fwd.stats()).relay.length;
}

/** Everything under d, recursively (to show that a refusal created nothing). */
function tree(d: string): string[] {
  return fs.readdirSync(d, { recursive: true, encoding: 'utf8' }).sort();
}

describe('vhost-user socket paths a port-control client may give', () => {
  const evil = `/etc/vio4wd-evil-${process.pid}.sock`;

  test.each([
    ['.. components (the reported escape to /etc)', () => `${dir}/vhost/../../../etc/vio4wd-evil-${process.pid}.sock`, /add_sock: vhost-user socket path .* has a \. or \.\. component/],
    ['a . component', () => `${dir}/vhost/./vm.sock`, /has a \. or \.\. component/],
    ['terminal escape bytes', () => `${dir}/vhost/a\x1b[2Jb.sock`, /socket path .*a\\033\[2Jb\.sock holds a control character/],
    ['a newline', () => `${dir}/vhost/a\nb.sock`, /socket path .*a\\nb\.sock holds a control character/],
    ['a relative path', () => 'vm.sock', /socket path vm\.sock is not absolute/],
    ['an empty component', () => `${dir}//vhost/vm.sock`, /has an empty component/],
    ['a trailing /', () => `${dir}/vhost/`, /ends with \//],
    ['more than sun_path holds', () => `${dir}/vhost/${'x'.repeat(100)}.sock`, /does not fit a unix socket address \(107 bytes at most\)/],
    ['a directory that is not allowed', () => evil, /its directory \(\/etc\) is not one of the allowed directories \(VIO4WD_VHOST_SOCKET_DIRS, VIRTIOFWD_SOCKET_DIR\): .*\/vhost, .*\/allowed/],
  ])('refused: %s; nothing created, no relay', async (_what, make, message) => {
    const before = tree(dir);
    const r = await fwd.portctl('add_sock', `--vhost-path=${make()}`, '--pci-addr=0000:ff:00.1');
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(message);
    // No escape byte reaches the client's terminal or the daemon's log.
    expect(r.stderr + fwd.log).not.toMatch(/\x1b/);
    expect(fs.existsSync(evil)).toBe(false);
    expect(tree(dir)).toEqual(before);
    expect(await relayCount()).toBe(0);
  });

  test('a symlinked directory counts where it leads: out of the allowed ones is refused, into one is accepted', async () => {
    fs.symlinkSync(outside, `${dir}/escape`);
    const out = await fwd.portctl('add_sock', `--vhost-path=${dir}/escape/vm.sock`, '--pci-addr=0000:ff:00.1');
    expect(out.stderr).toMatch(new RegExp(`its directory \\(${outside}\\) is not one of the allowed directories`));
    expect(fs.readdirSync(outside)).toEqual([]);

    fs.symlinkSync(`${dir}/allowed`, `${dir}/alias`);
    const into = await fwd.portctl('add_sock', `--vhost-path=${dir}/alias/vm.sock`, '--pci-addr=0000:ff:00.1');
    expect(into.exitCode).toBe(0);
    expect(fs.lstatSync(`${dir}/allowed/vm.sock`).isSocket()).toBe(true);
    expect((await fwd.portctl('remove_sock', `--vhost-path=${dir}/alias/vm.sock`)).exitCode).toBe(0);
    expect(fs.existsSync(`${dir}/allowed/vm.sock`)).toBe(false);
    expect(await relayCount()).toBe(0);
  });

  test('a socket path that is itself a symlink is refused (client mode would connect through it)', async () => {
    fs.symlinkSync(`${outside}/target.sock`, `${dir}/allowed/link.sock`);
    const r = await fwd.portctl('add_sock', `--vhost-path=${dir}/allowed/link.sock`, '--pci-addr=0000:ff:00.1');
    expect(r.stderr).toMatch(/vhost-user socket .*\/allowed\/link\.sock is a symbolic link/);
    expect(fs.readlinkSync(`${dir}/allowed/link.sock`)).toBe(`${outside}/target.sock`);
    expect(await relayCount()).toBe(0);
  });

  test('remove_sock and query_pci only look paths up: well-formed ones anywhere get "no relay", bad ones the rule', async () => {
    expect((await fwd.portctl('query_pci', '--vhost-path=/etc/x.sock')).stderr).toMatch(/no relay uses \/etc\/x\.sock/);
    expect((await fwd.portctl('remove_sock', `--vhost-path=${dir}/../x.sock`)).stderr).toMatch(/has a \. or \.\. component/);
  });

  test('the dataplane applies the rules itself: asked directly, it refuses and creates nothing', async () => {
    const client = new DataplaneClient(`${dir}/dataplane.sock`);
    await client.connect();
    try {
      const tryAdd = async (vhostPath: string) => {
        try {
          await client.addRelay({ id: 7, vf: 'net_null2', vhostPath, vhostClient: false });
          return 'added';
        } catch (e) {
          if (e instanceof DataplaneError) return e.message;
          throw e;
        }
      };
      expect(await tryAdd(evil)).toMatch(/its directory \(\/etc\) is not one of the allowed directories .*: .*\/vhost, .*\/allowed/);
      expect(await tryAdd(`${dir}/vhost/../../../etc/x.sock`)).toMatch(/has a \. or \.\. component/);
      expect(await tryAdd(`${dir}/vhost/a\x1b[2J.sock`)).toBe('vhost-user socket path holds a control character');
      expect(await tryAdd(`${dir}/escape/vm.sock`)).toMatch(/is not one of the allowed directories/);
      expect(await tryAdd(`${dir}/allowed/link.sock`)).toMatch(/is a symbolic link/);
      expect(fs.existsSync(evil)).toBe(false);
      expect(fs.readdirSync(outside)).toEqual([]);
    } finally {
      client.close();
    }
    expect(await relayCount()).toBe(0);
  });
});

describe('the socket directory is pinned when the relay is added', () => {
  const cleanups: Cleanup[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('client mode: a directory renamed and replaced by a symlink afterwards does not redirect the reconnects', async () => {
    const d = Forwarder.scratch('pin');
    fs.mkdirSync(`${d}/vms`);
    const client = await startDataplane(d, '0@0,1@1', cleanups, ['--vhost-dir', `${d}/vms`]);
    await client.addRelay({ id: 0, vf: 'net_null0', vhostPath: `${d}/vms/vm.sock`, vhostClient: true });
    // Nobody listens yet: the relay retries the connection every second.
    fs.renameSync(`${d}/vms`, `${d}/vms.moved`);
    fs.symlinkSync(outside, `${d}/vms`);
    const listen = async (p: string) => {
      let accepted = 0;
      const server = net.createServer((c) => {
        accepted++;
        c.destroy();
      });
      await new Promise<void>((resolve) => server.listen(p, resolve));
      cleanups.push(() => new Promise((resolve) => server.close(resolve)));
      return () => accepted;
    };
    const decoy = await listen(`${outside}/vm.sock`);
    await sleep(3500);
    expect(decoy()).toBe(0);
    const real = await listen(`${d}/vms.moved/vm.sock`);
    const deadline = Date.now() + 20000;
    while (real() === 0 && Date.now() < deadline) await sleep(100);
    expect(real()).toBeGreaterThan(0);
    expect(decoy()).toBe(0);
  });
});

describe('the sockets the configuration names are checked before start', () => {
  test.each([
    ['a pattern that makes a socket path too long', (d: string) => [`VIRTIOFWD_SOCKET_FNAME_PATTERN=${'p'.repeat(100 - d.length)}%u.sock`],
      /VIRTIOFWD_SOCKET_DIR \+ VIRTIOFWD_SOCKET_FNAME_PATTERN: the socket of virtio id 63, .*p63\.sock, does not fit a unix socket address/],
    ['a static relay whose socket is a symlink', (d: string) => {
      fs.mkdirSync(`${d}/vhost`);
      fs.symlinkSync('/etc/passwd', `${d}/vhost/virtio-forwarder2.sock`);
      return ['VIRTIOFWD_STATIC_VFS=(0000:ff:00.1=2)'];
    }, /VIRTIOFWD_STATIC_VFS: 0000:ff:00\.1=2: vhost-user socket .*\/vhost\/virtio-forwarder2\.sock is a symbolic link/],
  ])('refused: %s', async (_what, extra, message) => {
    const d = Forwarder.scratch('spf');
    try {
      const f = Forwarder.write(d, { vhostClient: false, extra: [ALIASES, ...extra(d)] });
      await expect(f.start()).rejects.toThrow(message);
      expect(await f.exitCode()).not.toBe(0);
    } finally {
      cleanDpdkRuntime(`vio4wd-${path.basename(d)}`);
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('private files keep tight modes', () => {
  test('the dataplane control socket is 0600 and the state file 0600, both root\'s', async () => {
    expect((await fwd.portctl('add_sock', `--vhost-path=${dir}/allowed/m.sock`, '--pci-addr=0000:ff:00.2')).exitCode).toBe(0);
    const ctl = fs.statSync(`${dir}/dataplane.sock`);
    const state = fs.statSync(`${dir}/state/relays.json`);
    expect({ ctl: ctl.mode & 0o777, state: state.mode & 0o777, uids: [ctl.uid, state.uid] }).toEqual({ ctl: 0o600, state: 0o600, uids: [0, 0] });
    expect((await fwd.portctl('remove_sock', `--vhost-path=${dir}/allowed/m.sock`)).exitCode).toBe(0);
  });
});
