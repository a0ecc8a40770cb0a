// The configuration reader: the original's file format and defaults.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { allowedSocketDirs, ConfigError, parseConfig, parseCpuList, socketPathFor } from '@vio4wd/common';
import { ROOT } from '../../lib/forwarder.js';

const base = 'VIRTIOFWD_CPU_MASK=1\n';
/** A 4-CPU host, whatever machine runs the test. */
const host = { hostCpus: 4 };

function problems(text: string): string[] {
  try {
    parseConfig(text, 'f', host);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('configuration file', () => {
  test('the shipped deploy/virtioforwarder.default reads with no warning, at the documented defaults', () => {
    const text = fs.readFileSync(path.join(ROOT, 'deploy/virtioforwarder.default'), 'utf8');
    const { config, warnings } = parseConfig(text, 'default', host);
    expect(warnings).toEqual([]);
    expect(config.cpuMask).toEqual([1, 2]);
    expect(config.vhostClient).toBe(true);
    expect(config.coreSchedEnable).toBe(false);
    expect(config.zmqConfigEp).toBe('');
    expect(config.stateDir).toBe('/var/lib/vio4wd');
    expect(config.idleSleepUs).toBe(0);
    expect(config.idlePollUs).toBe(200);
  });

  test('an empty file gives the documented defaults', () => {
    const { config, warnings } = parseConfig('VIRTIOFWD_CPU_MASK=1\n', 'f', host);
    expect(warnings).toEqual([]);
    expect(config.logLevel).toBe(6);
    expect(config.hugetlbfsMountPoint).toBe('/mnt/huge');
    expect(config.socketOwner).toBe('libvirt-qemu');
    expect(config.socketGroup).toBe('kvm');
    expect(config.vhostClient).toBe(true);
    expect(config.dynamicSockets).toBe(false);
    expect(config.coreSchedEnable).toBe(false);
    expect(config.vfioVfToken).toBeNull();
    expect(config.zmqPortControlEp).toBe('ipc:///var/run/virtio-forwarder/port_control');
    expect(socketPathFor(config, 3)).toBe('/tmp/virtio-forwarder/virtio-forwarder3.sock');
    expect(allowedSocketDirs(config)).toEqual(['/tmp/virtio-forwarder', '/var/run/openvswitch', '/var/lib/vhost_sockets']);
  });

  test('where vhost-user sockets may be: VIRTIOFWD_SOCKET_DIR always, VIO4WD_VHOST_SOCKET_DIRS narrows or widens the rest', () => {
    const dirs = (lines: string) => allowedSocketDirs(parseConfig(`${base}${lines}`, 'f', host).config);
    expect(dirs('VIO4WD_VHOST_SOCKET_DIRS=()\n')).toEqual(['/tmp/virtio-forwarder']);
    expect(dirs('VIRTIOFWD_SOCKET_DIR=/run/vio/\nVIO4WD_VHOST_SOCKET_DIRS=(/srv/a /run/vio /srv/b/)\n')).toEqual(['/run/vio', '/srv/a', '/srv/b']);
    expect(problems(`${base}VIO4WD_VHOST_SOCKET_DIRS=(/srv/a srv/b /srv/../etc /srv/\x1b)\n`)).toEqual([
      "f:2: VIO4WD_VHOST_SOCKET_DIRS: 'srv/b' is not absolute",
    ]);
    expect(problems(`${base}VIO4WD_VHOST_SOCKET_DIRS=(/srv/../etc)\n`)).toEqual(["f:2: VIO4WD_VHOST_SOCKET_DIRS: '/srv/../etc' has a . or .. component"]);
    expect(problems(`${base}VIRTIOFWD_SOCKET_DIR=/tmp/a\x1b[2J\n`)).toEqual(["f:2: VIRTIOFWD_SOCKET_DIR: '/tmp/a\\033[2J' holds a control character"]);
    expect(problems(`${base}VIO4WD_VHOST_SOCKET_DIRS=(${Array.from({ length: 16 }, (_, i) => `/d${i}`).join(' ')})\n`))
      .toEqual(['f:2: VIO4WD_VHOST_SOCKET_DIRS: 16 directories; at most 15 (with VIRTIOFWD_SOCKET_DIR)']);
  });

  test.each([
    ['VIRTIOFWD_STATIC_VFS=0000:05:08.1=1', [{ pci: '0000:05:08.1', virtioId: 1 }]],
    ['VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1)', [{ pci: '0000:05:08.1', virtioId: 1 }]],
    [
      'VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=2 05:08.3=3)',
      [
        { pci: '0000:05:08.1', virtioId: 1 },
        { pci: '0000:05:08.2', virtioId: 2 },
        { pci: '0000:05:08.3', virtioId: 3 },
      ],
    ],
  ])('static VFs: %s', (line, expected) => {
    expect(parseConfig(`${base}${line}\n`, 'f', host).config.staticVfs).toEqual(expected);
  });

  test('CPU pins: one CPU serves both directions, two split VF->VM and VM->VF', () => {
    const { config } = parseConfig('VIRTIOFWD_CPU_MASK=0x6\nVIRTIOFWD_CPU_PINS=(0:1 1:1,2 --virtio-cpu=2:2,1)\n', 'f', host);
    expect(config.cpuMask).toEqual([1, 2]);
    expect(config.cpuPins).toEqual([
      { relay: 0, vfToVm: 1, vmToVf: 1 },
      { relay: 1, vfToVm: 1, vmToVf: 2 },
      { relay: 2, vfToVm: 2, vmToVf: 1 },
    ]);
  });

  test('quotes, comments and device aliases', () => {
    const { config } = parseConfig(
      `${base}# comment\nVIRTIOFWD_SOCKET_DIR="/run/my dir" # trailing\nVIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_tap0,iface=vf1)\n`,
      'f',
      host,
    );
    expect(config.socketDir).toBe('/run/my dir');
    expect(config.deviceAliases.get('0000:ff:00.1')).toBe('net_tap0,iface=vf1');
  });

  test.each([
    ['VIRTIOFWD_LOG_LEVEL=8', /f:2: VIRTIOFWD_LOG_LEVEL: '8' is not allowed; allowed: an integer from 0 to 7/],
    ['VIRTIOFWD_STATIC_VFS=(0000:05:08.x=1)', /'0000:05:08.x' is not a PCI address/],
    ['VIRTIOFWD_STATIC_VFS=(0000:05:08.1=64)', /virtio id 64 .* outside 0-63/],
    ['VIRTIOFWD_CPU_PINS=0:0', /CPU 0 of relay 0 is not in VIRTIOFWD_CPU_MASK \(1\)/],
    ['VIRTIOFWD_VFIO_VF_TOKEN=not-a-uuid', /empty \(no token\), 0 \(default token\) or a UUID/],
    ['VIRTIOFWD_VHOST_CLIENT=maybe', /VIRTIOFWD_VHOST_CLIENT: 'maybe' is not allowed/],
    ['VIRTIOFWD_SOCKET_FNAME_PATTERN=vm.sock', /exactly one %u/],
    ['JUST_A_WORD', /f:2: expected NAME=value/],
  ])('%s is refused with a message naming the variable', (line, re) => {
    const p = problems(`${base}${line}\n`);
    expect(p.join('\n')).toMatch(re);
  });

  test('an unknown variable is a warning, not an error', () => {
    expect(parseConfig(`${base}VIRTIOFWD_NO_SUCH_THING=1\n`, 'f', host).warnings).toEqual(['f:2: unknown variable VIRTIOFWD_NO_SUCH_THING (ignored)']);
  });

  test('CPU lists and masks', () => {
    expect(parseCpuList('0-2,5', 7)).toEqual([0, 1, 2, 5]);
    expect(parseCpuList('0x11', 7)).toEqual([0, 4]);
    expect(() => parseCpuList('9', 7)).toThrow(/CPU 9 does not exist/);
    expect(problems('VIRTIOFWD_CPU_MASK=1,4\n').join()).toMatch(/CPU 4 does not exist \(this host has CPUs 0-3\)/);
    expect(() => parseCpuList('0x0', 7)).toThrow(/names no CPU/);
  });
});
