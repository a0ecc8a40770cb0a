// The systemd units as systemd itself reads them (systemd-analyze verify):
// no unknown key, no bad value. ExecStart points at /bin/true in a copy,
// since the installed binary need not exist where the tests run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { execa } from 'execa';
import { ROOT } from '../../lib/forwarder.js';

const UNITS = path.join(ROOT, 'deploy/systemd');

describe('systemd units', () => {
  const units = fs.readdirSync(UNITS).filter((f) => f.endsWith('.service'));

  test('there are units to check', () => {
    expect(units).toContain('virtio-forwarder.service');
    expect(units).toContain('vio4wd_core_scheduler.service');
    expect(units).toContain('virtio-forwarder-bind-vfio.service');
  });

  test.each(units)('%s: systemd-analyze verify finds nothing to say', async (unit) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v4-unit-'));
    try {
      const text = fs.readFileSync(path.join(UNITS, unit), 'utf8').replace(/^ExecStart(Pre)?=(\+?)\S+/gm, 'ExecStart$1=$2/bin/true');
      fs.writeFileSync(path.join(dir, unit), text);
      const r = await execa('systemd-analyze', ['verify', path.join(dir, unit)], { reject: false });
      expect({ code: r.exitCode, out: `${r.stdout}${r.stderr}` }).toEqual({ code: 0, out: '' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    ['virtio-forwarder.service', 4.0],
    ['vio4wd_core_scheduler.service', 2.0],
    ['virtio-forwarder-bind-vfio.service', 2.5],
  ])('%s: systemd-analyze security rates its exposure at most %s', async (unit, limit) => {
    const r = await execa('systemd-analyze', ['security', '--offline=true', path.join(UNITS, unit)], { reject: false });
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBeLessThanOrEqual(limit);
  });

  test('virtio-forwarder.service waits for READY=1 from any process of the service', () => {
    const text = fs.readFileSync(path.join(UNITS, 'virtio-forwarder.service'), 'utf8');
    expect(text).toMatch(/^Type=notify$/m);
    expect(text).toMatch(/^NotifyAccess=all$/m);
  });

  test('VIRTIOFWD_BIND_VFIO_PCI is bound by a unit of its own, before the forwarder starts, outside its sandbox', () => {
    const fwd = fs.readFileSync(path.join(UNITS, 'virtio-forwarder.service'), 'utf8').split('\n');
    for (const l of ['Wants=virtio-forwarder-bind-vfio.service', 'After=virtio-forwarder-bind-vfio.service', 'ProtectKernelTunables=yes', 'ProtectKernelModules=yes'])
      expect(fwd).toContain(l);
    const bind = fs.readFileSync(path.join(UNITS, 'virtio-forwarder-bind-vfio.service'), 'utf8').split('\n');
    for (const l of ['Type=oneshot', 'Before=virtio-forwarder.service', 'ExecStart=/usr/bin/virtio-forwarder --config /etc/default/virtioforwarder --bind-vfio-pci'])
      expect(bind).toContain(l);
    expect(bind.filter((l) => /^Protect(KernelTunables|KernelModules)=/.test(l))).toEqual([]);
  });

  test('vio4wd_core_scheduler.service notifies, follows the forwarder, restarts on failure', () => {
    const text = fs.readFileSync(path.join(UNITS, 'vio4wd_core_scheduler.service'), 'utf8');
    for (const line of ['Type=notify', 'NotifyAccess=all', 'After=virtio-forwarder.service', 'PartOf=virtio-forwarder.service', 'Restart=on-failure',
      'ExecStart=/usr/bin/vio4wd_core_scheduler --config /etc/default/virtioforwarder'])
      expect(text.split('\n')).toContain(line);
  });
});
