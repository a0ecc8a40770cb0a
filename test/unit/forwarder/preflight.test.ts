// Pre-flight checks against a host described by a /proc and /sys tree: the
// real checks read these files; the tree lets the test be a host without
// hugepages, with a 1G mount, a low vm.max_map_count or a vfio-pci driver,
// which this machine cannot become. (The e2e tests run them on the real
// /proc and /sys.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { parseConfig } from '@vio4wd/common';
import { BASE_PAGES, PAGES_PER_RELAY, preflight, serverSocketReach, type PlannedRelay } from '@vio4wd/forwarder';

interface Host {
  mounts?: string;
  total?: number;
  free?: number;
  maxMapCount?: number;
  drivers?: string[];
}

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

function host(h: Host): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'v4-pf-'));
  roots.push(root);
  const put = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  put('proc/mounts', h.mounts ?? 'proc /proc proc rw 0 0\nnodev /mnt/huge hugetlbfs rw,relatime,pagesize=2M 0 0\n');
  put('proc/meminfo', 'MemTotal: 1000 kB\nHugepagesize:       2048 kB\n');
  put('proc/sys/vm/max_map_count', `${h.maxMapCount ?? 65530}\n`);
  if (h.total !== undefined) {
    put('sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages', `${h.total}\n`);
    put('sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', `${h.free ?? h.total}\n`);
  }
  for (const d of h.drivers ?? []) fs.mkdirSync(path.join(root, 'sys/bus/pci/drivers', d), { recursive: true });
  return root;
}

function config(dir: string, extra = '') {
  return parseConfig([
    'VIRTIOFWD_CPU_MASK=1',
    'VIO4WD_NO_HUGE=false',
    'VIRTIOFWD_HUGETLBFS_MOUNT_POINT=/mnt/huge',
    'VIRTIOFWD_VHOST_CLIENT=false',
    `VIRTIOFWD_SOCKET_DIR=${dir}/sockets`,
    `VIO4WD_STATE_DIR=${dir}/state`,
    `VIRTIOFWD_PID_DIR=${dir}`,
    extra,
  ].join('\n'), 'f', { hostCpus: 4 }).config;
}

// Giving directories to other users takes root; CI runs these as root (npm
// test) and again as nobody, where they are skipped and said to be.
const asRoot = process.getuid?.() === 0 ? test : test.skip;

const relays = (n: number, device = 'net_null0'): PlannedRelay[] => Array.from({ length: n }, () => ({ devices: [device], bond: false }));

describe('pre-flight checks', () => {
  test('a fit host passes and says how many relays its free pages hold', () => {
    const root = host({ total: 512, free: 500 });
    const r = preflight(config(root), relays(2), root);
    expect(r.errors).toEqual([]);
    const room = Math.floor((500 - BASE_PAGES - 2 * PAGES_PER_RELAY) / PAGES_PER_RELAY);
    expect(r.notes).toEqual([`500 free 2M hugepages of 512: room for 2 configured relay(s) and ${room} more`]);
  });

  test('too few free pages for the configured relays', () => {
    const root = host({ total: 40, free: 30 });
    const r = preflight(config(root), relays(3), root);
    const needed = BASE_PAGES + 3 * PAGES_PER_RELAY;
    expect(r.errors).toEqual([`30 free 2M hugepages of 40; the 3 relay(s) configured at start need ${needed} (${BASE_PAGES} + ${PAGES_PER_RELAY} a relay). ` +
      `Reserve more: echo ${40 + needed - 30} > /proc/sys/vm/nr_hugepages`]);
  });

  test('no hugetlbfs at the configured mount point, and a 1G one', () => {
    const none = host({ total: 512, mounts: 'proc /proc proc rw 0 0\ntmpfs /mnt/huge tmpfs rw 0 0\n' });
    expect(preflight(config(none), [], none).errors).toEqual([
      'VIRTIOFWD_HUGETLBFS_MOUNT_POINT: no hugetlbfs is mounted on /mnt/huge (mkdir -p /mnt/huge && mount -t hugetlbfs -o pagesize=2M nodev /mnt/huge)',
    ]);
    const big = host({ total: 512, mounts: 'nodev /mnt/huge hugetlbfs rw,relatime,pagesize=1024M 0 0\n' });
    expect(preflight(config(big), [], big).errors).toEqual([
      'VIRTIOFWD_HUGETLBFS_MOUNT_POINT: /mnt/huge is a hugetlbfs of 1024M pages; virtio-forwarder needs 2M pages (mount one with -o pagesize=2M)',
    ]);
  });

  test('a kernel without 2M hugepages', () => {
    const root = host({});
    expect(preflight(config(root), [], root).errors).toEqual(['this kernel offers no 2M hugepages (no /sys/kernel/mm/hugepages/hugepages-2048kB)']);
  });

  test('vm.max_map_count not above twice the hugepages', () => {
    const root = host({ total: 40000, maxMapCount: 65530 });
    expect(preflight(config(root), [], root).errors).toEqual([
      'vm.max_map_count is 65530, not above twice the 40000 2M hugepages; DPDK can fail to map them (sysctl -w vm.max_map_count=81024)',
    ]);
  });

  test('PCI VFs need vfio-pci (or a uio driver); aliased devices do not', () => {
    const without = host({ total: 512 });
    expect(preflight(config(without), relays(1, '0000:05:08.1'), without).errors).toEqual([
      'VF 0000:05:08.1 is a PCI device and no driver DPDK can use is loaded (modprobe vfio-pci, and bind the VF to it)',
    ]);
    expect(preflight(config(without), relays(1, 'net_tap0,iface=vf0'), without).errors).toEqual([]);
    const withVfio = host({ total: 512, drivers: ['vfio-pci'] });
    expect(preflight(config(withVfio), relays(1, '0000:05:08.1'), withVfio).errors).toEqual([]);
  });

  test('--no-huge skips the hugepage checks; a socket directory that cannot be written is refused', () => {
    const root = host({});
    fs.writeFileSync(path.join(root, 'file'), '');
    const c = config(root, `VIO4WD_NO_HUGE=true\nVIRTIOFWD_SOCKET_DIR=${root}/file/sockets`);
    const errors = preflight(c, [], root).errors;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^VIRTIOFWD_SOCKET_DIR ${root}/file/sockets is not a writable directory: ENOTDIR`));
  });

  test('a socket directory it creates is 0755 whatever the umask (the service runs with 0027; QEMU must reach it)', () => {
    const root = host({});
    const old = process.umask(0o077);
    try {
      expect(preflight(config(root, `VIO4WD_NO_HUGE=true\nVIRTIOFWD_SOCKET_DIR=${root}/a/b`), [], root).errors).toEqual([]);
    } finally {
      process.umask(old);
    }
    expect([`${root}/a`, `${root}/a/b`].map((d) => fs.statSync(d).mode & 0o777)).toEqual([0o755, 0o755]);
    expect(fs.statSync(`${root}/state`).mode & 0o777).toBe(0o700);
  });

  describe('client mode: QEMU creates the sockets as VIRTIOFWD_SOCKET_OWNER/GROUP', () => {
    // (As root, the test can give directories to ids no account has.)
    const ids = { uid: 4343, gid: 4242 };
    const client = (root: string) => config(root, `VIO4WD_NO_HUGE=true\nVIRTIOFWD_VHOST_CLIENT=true\nVIRTIOFWD_SOCKET_DIR=${root}/a/b`);

    asRoot('a socket directory it creates is root:GROUP 2770 (setgid: every socket gets the group); its parents 0755', () => {
      const root = host({});
      fs.chmodSync(root, 0o755);
      expect(preflight(client(root), [], root, ids).errors).toEqual([]);
      const st = fs.statSync(`${root}/a/b`);
      expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 4242, 0o2770]);
      expect(fs.statSync(`${root}/a`).mode & 0o7777).toBe(0o755);
      // With an owner and no group: the owner's, 0755.
      const other = host({});
      fs.chmodSync(other, 0o755);
      expect(preflight(client(other), [], other, { uid: 4343, gid: null }).errors).toEqual([]);
      const st2 = fs.statSync(`${other}/a/b`);
      expect([st2.uid, st2.mode & 0o7777]).toEqual([4343, 0o755]);
    });

    asRoot('an existing directory QEMU could not write to is refused, with the fix; one it can is left alone', () => {
      const root = host({});
      fs.chmodSync(root, 0o755);
      fs.mkdirSync(`${root}/a/b`, { recursive: true, mode: 0o755 });
      fs.chmodSync(`${root}/a/b`, 0o755);
      expect(preflight(client(root), [], root, ids).errors).toEqual([
        `VIRTIOFWD_SOCKET_DIR ${root}/a/b is uid 0, gid 0, mode 0755: in vhost-user client mode (VIRTIOFWD_VHOST_CLIENT=true) ` +
        'QEMU creates the sockets, as user libvirt-qemu, group kvm (VIRTIOFWD_SOCKET_OWNER/VIRTIOFWD_SOCKET_GROUP), and could not write there. ' +
        `Fix: chgrp kvm ${root}/a/b && chmod 2770 ${root}/a/b (what virtio-forwarder makes when it creates the directory), or remove it`,
      ]);
      expect(fs.statSync(`${root}/a/b`).mode & 0o7777).toBe(0o755);
      for (const [uid, gid, mode] of [[0, 4242, 0o770], [4343, 0, 0o700], [0, 0, 0o1777]] as const) {
        fs.chownSync(`${root}/a/b`, uid, gid);
        fs.chmodSync(`${root}/a/b`, mode);
        expect(preflight(client(root), [], root, ids).errors).toEqual([]);
      }
      // Server mode: only the relay writes there.
      fs.chownSync(`${root}/a/b`, 0, 0);
      fs.chmodSync(`${root}/a/b`, 0o755);
      expect(preflight(config(root, `VIO4WD_NO_HUGE=true\nVIRTIOFWD_SOCKET_DIR=${root}/a/b`), [], root, ids).errors).toEqual([]);
    });

    asRoot('a parent QEMU cannot enter is named', () => {
      const root = host({}); // (mkdtemp: 0700)
      const errors = preflight(client(root), [], root, ids).errors;
      expect(errors).toEqual([expect.stringMatching(new RegExp(`^VIRTIOFWD_SOCKET_DIR ${root}/a/b: its parent ${root} \\(uid 0, gid 0, mode 0700\\) cannot be entered: .* could not reach it$`))]);
    });

    asRoot('with only the group known (no such user: QEMU may run as root), the same finding is a warning', () => {
      const root = host({});
      const r = preflight(client(root), [], root, { uid: null, gid: 4242 });
      expect(r.errors).toEqual([]);
      expect(r.warnings).toEqual([expect.stringMatching(/cannot be entered: in vhost-user client mode .* as group kvm /)]);
    });
  });

  asRoot('server mode: a socket directory QEMU (as VIRTIOFWD_SOCKET_OWNER/GROUP) cannot enter is named; one it can passes', () => {
    const root = host({}); // 0700, root's
    fs.mkdirSync(`${root}/vms`, { mode: 0o755 });
    const names = { socketOwner: 'libvirt-qemu', socketGroup: 'kvm' };
    const ids = { uid: 4343, gid: 4242 };
    expect(serverSocketReach(`${root}/vms/a.sock`, ids, names)).toBe(
      `QEMU, as user libvirt-qemu, group kvm (VIRTIOFWD_SOCKET_OWNER/VIRTIOFWD_SOCKET_GROUP), cannot reach vhost-user socket ${root}/vms/a.sock: ` +
      `${root} (uid 0, gid 0, mode 0700) cannot be entered. Its connect() fails with "Permission denied": ` +
      'virsh start fails, or with <reconnect> leaves the domain paused (docs/libvirt.md)');
    fs.chownSync(root, 0, 4242);
    fs.chmodSync(root, 0o710);
    expect(serverSocketReach(`${root}/vms/a.sock`, ids, names)).toBeUndefined();
    expect(serverSocketReach(`${root}/vms/a.sock`, { uid: 0, gid: null }, names)).toBeUndefined();
    expect(serverSocketReach(`${root}/vms/a.sock`, { uid: null, gid: null }, names)).toMatch(/QEMU must run as root/);
  });
});
