// VIRTIOFWD_BIND_VFIO_PCI against a sysfs tree in a temporary directory:
// the devices, drivers, IOMMU groups, netdevs and virtfn links as files and
// symlinks, laid out as the kernel lays them out. What the kernel does on a
// write (unbind, drivers_probe with driver_override, new_id, bind) is played
// by the host's write hook, which moves the driver link; everything else is
// what the binder reads and writes in the tree. (The real kernel: the guest
// test, test/system/pci-guest.sh.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { parseConfig, type BindEntry } from '@vio4wd/common';
import { bindVfioPci, BindError, type BindHost } from '@vio4wd/forwarder';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vio4wd-sysfs-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

interface Dev {
  addr: string;
  driver?: string;
  group?: string;
  ids?: [string, string];
  netdev?: { name: string; up: boolean };
  /** No driver_override file (kernels before 3.16). */
  oldKernel?: boolean;
}

const sys = (...p: string[]) => path.join(root, 'sys', ...p);

function driver(name: string): void {
  fs.mkdirSync(sys('bus/pci/drivers', name), { recursive: true });
  for (const f of ['bind', 'unbind', 'new_id']) fs.writeFileSync(sys('bus/pci/drivers', name, f), '');
}

/** A relative symlink, as sysfs has them (relative to where the link really is). */
function link(at: string, to: string): void {
  fs.rmSync(at, { force: true });
  fs.symlinkSync(path.relative(fs.realpathSync(path.dirname(at)), to), at);
}

function device(d: Dev): void {
  const dir = sys('devices/pci0000:00', d.addr);
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(sys('bus/pci/devices'), { recursive: true });
  link(sys('bus/pci/devices', d.addr), dir);
  const [vendor, dev] = d.ids ?? ['0x8086', '0x10d3'];
  fs.writeFileSync(path.join(dir, 'vendor'), `${vendor}\n`);
  fs.writeFileSync(path.join(dir, 'device'), `${dev}\n`);
  if (!d.oldKernel) fs.writeFileSync(path.join(dir, 'driver_override'), '(null)\n');
  if (d.driver) {
    driver(d.driver);
    link(path.join(dir, 'driver'), sys('bus/pci/drivers', d.driver));
  }
  if (d.group) {
    fs.mkdirSync(sys('kernel/iommu_groups', d.group, 'devices'), { recursive: true });
    link(sys('kernel/iommu_groups', d.group, 'devices', d.addr), dir);
    link(path.join(dir, 'iommu_group'), sys('kernel/iommu_groups', d.group));
  }
  if (d.netdev) netdev(d.netdev.name, d.addr, d.netdev.up);
}

function netdev(name: string, addr: string, up = false): void {
  const dir = sys('bus/pci/devices', addr);
  fs.mkdirSync(path.join(dir, 'net', name), { recursive: true });
  fs.writeFileSync(path.join(dir, 'net', name, 'flags'), up ? '0x1003\n' : '0x1002\n');
  fs.mkdirSync(sys('class/net'), { recursive: true });
  link(sys('class/net', name), path.join(fs.realpathSync(dir), 'net', name));
  link(path.join(dir, 'net', name, 'device'), fs.realpathSync(dir));
}

/** A PF netdev with VFs (virtfnN links to their devices). */
function pf(name: string, pfAddr: string, vfs: string[]): void {
  device({ addr: pfAddr, driver: 'ixgbe', group: `g${pfAddr}` });
  netdev(name, pfAddr, true);
  vfs.forEach((vf, i) => {
    device({ addr: vf, driver: 'ixgbevf', group: `g${vf}` });
    link(path.join(sys('bus/pci/devices', pfAddr), `virtfn${i}`), fs.realpathSync(sys('bus/pci/devices', vf)));
  });
}

const driverOf = (addr: string) => {
  try {
    return path.basename(fs.readlinkSync(sys('bus/pci/devices', addr, 'driver')));
  } catch {
    return undefined;
  }
};

/** The host: writes go to the tree, and the kernel's response to them is played here. */
function host(opts: { addresses?: Record<string, string[]>; vfioLoaded?: boolean } = {}) {
  const writes: string[] = [];
  const modprobes: string[] = [];
  if (opts.vfioLoaded ?? true) driver('vfio-pci');
  const h: BindHost = {
    root,
    write(file, text) {
      fs.writeFileSync(file, text);
      const rel = path.relative(sys(), file);
      writes.push(`${rel} < ${JSON.stringify(text)}`);
      const m = /^bus\/pci\/devices\/([^/]+)\/driver\/unbind$/.exec(rel);
      if (m?.[1] === text) fs.rmSync(sys('bus/pci/devices', text, 'driver'));
      const probe = (addr: string, drv: string) => link(sys('bus/pci/devices', addr, 'driver'), sys('bus/pci/drivers', drv));
      if (rel === 'bus/pci/drivers_probe') {
        const override = fs.readFileSync(sys('bus/pci/devices', text, 'driver_override'), 'utf8').trim();
        if (override === 'vfio-pci') probe(text, 'vfio-pci');
      }
      if (rel === 'bus/pci/drivers/vfio-pci/bind') probe(text, 'vfio-pci');
      if (rel === 'bus/pci/drivers/vfio-pci/new_id') {
        // Binds every device of these ids with no driver.
        for (const addr of fs.readdirSync(sys('bus/pci/devices'))) {
          const ids = ['vendor', 'device'].map((f) => fs.readFileSync(sys('bus/pci/devices', addr, f), 'utf8').trim().replace(/^0x/, '')).join(' ');
          if (ids === text && driverOf(addr) === undefined) probe(addr, 'vfio-pci');
        }
      }
    },
    async modprobe(module) {
      modprobes.push(module);
      driver(module);
    },
    addresses: (ifname) => opts.addresses?.[ifname] ?? [],
  };
  return { h, writes, modprobes };
}

/** The entries as the config parser reads them. */
function entries(value: string): BindEntry[] {
  return parseConfig(`VIRTIOFWD_BIND_VFIO_PCI=${value}\n`, 'test', { hostCpus: 4 }).config.bindVfioPci;
}

async function problems(p: Promise<unknown>): Promise<string[]> {
  const e = await p.catch((x: unknown) => x);
  expect(e).toBeInstanceOf(BindError);
  return (e as BindError).problems;
}

describe('VIRTIOFWD_BIND_VFIO_PCI: the notation', () => {
  test('full and short PCI addresses, netdev, netdev:N; a bash array or one value', () => {
    expect(entries('(0000:01:02.3 01:02.4 ens1f0 eth2:4)')).toEqual([
      { text: '0000:01:02.3', pci: '0000:01:02.3' },
      { text: '01:02.4', pci: '0000:01:02.4' },
      { text: 'ens1f0', netdev: 'ens1f0' },
      { text: 'eth2:4', netdev: 'eth2', count: 4 },
    ]);
    expect(entries('0000:AF:00.1')).toEqual([{ text: '0000:AF:00.1', pci: '0000:af:00.1' }]);
    expect(entries('')).toEqual([]);
  });

  test.each([
    ['eth1:0', "'eth1:0': the number of VFs is 1 to 256"],
    ['eth1:x', "'eth1:x' is neither a PCI address"],
    ['01:02', "'01:02' is neither a PCI address"],
    ['a/b', "'a/b' is neither a PCI address"],
    ['averyveryverylongname', "'averyveryverylongname' is neither a PCI address"],
  ])('%s is refused', (value, message) => {
    expect(() => entries(value)).toThrow(message);
  });
});

describe('VIRTIOFWD_BIND_VFIO_PCI: binding', () => {
  test('a device on its kernel driver: driver_override, unbind, drivers_probe, override cleared; it is on vfio-pci', async () => {
    device({ addr: '0000:00:03.0', driver: 'e1000e', group: '4', netdev: { name: 'enp0s3', up: false } });
    const { h, writes, modprobes } = host();
    const r = await bindVfioPci(entries('00:03.0'), { host: h });
    expect(writes).toEqual([
      'bus/pci/devices/0000:00:03.0/driver_override < "vfio-pci"',
      'bus/pci/devices/0000:00:03.0/driver/unbind < "0000:00:03.0"',
      'bus/pci/drivers_probe < "0000:00:03.0"',
      'bus/pci/devices/0000:00:03.0/driver_override < "\\n"',
    ]);
    expect(driverOf('0000:00:03.0')).toBe('vfio-pci');
    expect(modprobes).toEqual([]);
    expect(r).toEqual({
      done: ['VIRTIOFWD_BIND_VFIO_PCI: 0000:00:03.0 (00:03.0, 8086:10d3) bound to vfio-pci, was on e1000e; IOMMU group 4 (/dev/vfio/4)'],
      already: [],
    });
  });

  test('idempotent: a device on vfio-pci already is not touched', async () => {
    device({ addr: '0000:00:03.0', driver: 'e1000e', group: '4' });
    const { h, writes } = host();
    await bindVfioPci(entries('0000:00:03.0'), { host: h });
    writes.length = 0;
    const again = await bindVfioPci(entries('0000:00:03.0'), { host: h });
    expect(writes).toEqual([]);
    expect(again).toEqual({ done: [], already: ['VIRTIOFWD_BIND_VFIO_PCI: 0000:00:03.0 (0000:00:03.0) is on vfio-pci already'] });
  });

  test('a device on no driver: no unbind; vfio-pci loaded when it is not', async () => {
    device({ addr: '0000:00:04.0', group: '5' });
    const { h, writes, modprobes } = host({ vfioLoaded: false });
    await bindVfioPci(entries('0000:00:04.0'), { host: h });
    expect(modprobes).toEqual(['vfio-pci']);
    expect(writes.some((w) => w.includes('unbind'))).toBe(false);
    expect(driverOf('0000:00:04.0')).toBe('vfio-pci');
  });

  test('a kernel without driver_override: unbind, then new_id with the vendor and device ids', async () => {
    device({ addr: '0000:00:05.0', driver: 'igb', group: '6', ids: ['0x8086', '0x1533'], oldKernel: true });
    const { h, writes } = host();
    await bindVfioPci(entries('0000:00:05.0'), { host: h });
    expect(writes).toEqual([
      'bus/pci/devices/0000:00:05.0/driver/unbind < "0000:00:05.0"',
      'bus/pci/drivers/vfio-pci/new_id < "8086 1533"',
    ]);
    expect(driverOf('0000:00:05.0')).toBe('vfio-pci');
  });

  test('netdev: every VF of the PF, by PCI address; netdev:N the first N', async () => {
    pf('ens1f0', '0000:05:00.0', ['0000:05:10.2', '0000:05:10.0', '0000:05:10.4']);
    const { h } = host();
    const two = await bindVfioPci(entries('ens1f0:2'), { host: h });
    expect(two.done.map((l) => l.split(' ')[1])).toEqual(['0000:05:10.0', '0000:05:10.2']);
    expect(driverOf('0000:05:10.4')).toBe('ixgbevf');
    const all = await bindVfioPci(entries('ens1f0'), { host: h });
    expect(all.done.map((l) => l.split(' ')[1])).toEqual(['0000:05:10.4']);
    expect(all.already).toHaveLength(2);
    // The PF itself is left alone.
    expect(driverOf('0000:05:00.0')).toBe('ixgbe');
  });

  test('every problem is named, and nothing is bound when there is one', async () => {
    device({ addr: '0000:00:03.0', driver: 'e1000e', group: '4' });
    pf('ens2', '0000:06:00.0', ['0000:06:10.0']);
    device({ addr: '0000:07:00.0', driver: 'i40e', group: '9' });
    netdev('lonely', '0000:07:00.0', true);
    const { h, writes } = host();
    expect(await problems(bindVfioPci(entries('(0000:00:03.0 0000:00:09.0 nosuch ens2:3 lonely)'), { host: h }))).toEqual([
      'VIRTIOFWD_BIND_VFIO_PCI: 0000:00:09.0: there is no PCI device 0000:00:09.0 (lspci -D lists those there are)',
      'VIRTIOFWD_BIND_VFIO_PCI: nosuch: there is no network device nosuch',
      'VIRTIOFWD_BIND_VFIO_PCI: ens2:3: ens2 has 1 VF, fewer than the 3 asked for',
      'VIRTIOFWD_BIND_VFIO_PCI: lonely: lonely has no VFs (create them: echo N > /sys/class/net/lonely/device/sriov_numvfs)',
    ]);
    expect(writes).toEqual([]);
    expect(driverOf('0000:00:03.0')).toBe('e1000e');
  });

  test('an IOMMU group shared with a device on another driver is refused; bridges and devices bound together are fine', async () => {
    device({ addr: '0000:00:03.0', driver: 'e1000e', group: '4' });
    device({ addr: '0000:00:03.1', driver: 'snd_hda_intel', group: '4' });
    device({ addr: '0000:00:1c.0', driver: 'pcieport', group: '4' });
    const { h, writes } = host();
    expect(await problems(bindVfioPci(entries('0000:00:03.0'), { host: h }))).toEqual([
      'VIRTIOFWD_BIND_VFIO_PCI: 0000:00:03.0: 0000:00:03.0 shares IOMMU group 4 with 0000:00:03.1, which is bound to snd_hda_intel: ' +
        'vfio-pci needs every device of the group on vfio-pci or on no driver (add 0000:00:03.1 to VIRTIOFWD_BIND_VFIO_PCI, or unbind it)',
    ]);
    expect(writes).toEqual([]);
    await bindVfioPci(entries('(0000:00:03.0 0000:00:03.1)'), { host: h });
    expect([driverOf('0000:00:03.0'), driverOf('0000:00:03.1'), driverOf('0000:00:1c.0')]).toEqual(['vfio-pci', 'vfio-pci', 'pcieport']);
  });

  test('no IOMMU group: the IOMMU is off, and the message says how to turn it on', async () => {
    device({ addr: '0000:00:03.0', driver: 'e1000e' });
    const { h } = host();
    expect(await problems(bindVfioPci(entries('0000:00:03.0'), { host: h }))).toEqual([
      'VIRTIOFWD_BIND_VFIO_PCI: 0000:00:03.0: 0000:00:03.0 is in no IOMMU group: the kernel runs without an IOMMU ' +
        '(enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on or amd_iommu=on)',
    ]);
  });

  test('an interface that is up with an address is not taken, unless forced (and then it says so)', async () => {
    device({ addr: '0000:00:03.0', driver: 'e1000e', group: '4', netdev: { name: 'enp0s3', up: true } });
    const { h, writes } = host({ addresses: { enp0s3: ['192.0.2.7'] } });
    expect(await problems(bindVfioPci(entries('0000:00:03.0'), { host: h }))).toEqual([
      'VIRTIOFWD_BIND_VFIO_PCI: 0000:00:03.0: 0000:00:03.0 is enp0s3, which is up with address 192.0.2.7: ' +
        'not taken from the kernel while in use (take it down, or set VIO4WD_BIND_VFIO_PCI_FORCE=true)',
    ]);
    expect(writes).toEqual([]);
    const forced = await bindVfioPci(entries('0000:00:03.0'), { host: h, force: true });
    expect(forced.done[0]).toMatch(/which is up with address 192.0.2.7: taken from the kernel all the same \(VIO4WD_BIND_VFIO_PCI_FORCE=true\)/);
    expect(driverOf('0000:00:03.0')).toBe('vfio-pci');
  });

  test('up without an address, or down with one: taken', async () => {
    device({ addr: '0000:00:03.0', driver: 'e1000e', group: '4', netdev: { name: 'upnoaddr', up: true } });
    device({ addr: '0000:00:04.0', driver: 'e1000e', group: '5', netdev: { name: 'downaddr', up: false } });
    const { h } = host({ addresses: { downaddr: ['192.0.2.8'] } });
    await bindVfioPci(entries('(0000:00:03.0 0000:00:04.0)'), { host: h });
    expect([driverOf('0000:00:03.0'), driverOf('0000:00:04.0')]).toEqual(['vfio-pci', 'vfio-pci']);
  });

  test('the kernel refusing the bind: the device named, and what was bound before it', async () => {
    device({ addr: '0000:00:03.0', driver: 'e1000e', group: '4' });
    device({ addr: '0000:00:04.0', driver: 'e1000e', group: '5' });
    const { h } = host();
    const write = h.write;
    h.write = (file, text) => {
      if (file.endsWith('drivers_probe') && text === '0000:00:04.0') return; // the kernel's probe failed
      write(file, text);
    };
    const e = await bindVfioPci(entries('(0000:00:03.0 0000:00:04.0)'), { host: h }).catch((x: unknown) => x);
    expect(e).toMatchObject({ stage: 'bind', problems: ['VIRTIOFWD_BIND_VFIO_PCI: 0000:00:04.0: 0000:00:04.0 is on no driver after binding it to vfio-pci (dmesg says why) (bound before it: 0000:00:03.0)'] });
  });
});
