// A device the service's sandbox denies: the error names what the device
// kind needs and the drop-in, under systemd only. (installed.sh sees the
// real denial under the shipped unit.)
import { describe, expect, test } from '@jest/globals';
import { DataplaneError } from '@vio4wd/common';
import { deviceNeeds, explainDenied } from '@vio4wd/forwarder';

const systemd = { INVOCATION_ID: '0123456789abcdef' };

describe('a device the sandbox denies', () => {
  test('af_packet, tap and PCI VFs: each named with what it needs', () => {
    expect(deviceNeeds('net_af_packet0,iface=v0')).toBe('net_af_packet0 (af_packet): CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW and RestrictAddressFamilies=AF_PACKET');
    expect(deviceNeeds('net_tap3,iface=t')).toBe('net_tap3 (tap): CapabilityBoundingSet=CAP_NET_ADMIN and DeviceAllow=/dev/net/tun rw');
    expect(deviceNeeds('0000:05:00.1')).toMatch(/^PCI VF 0000:05:00\.1: on vfio-pci its \/dev\/vfio\/<group> .*systemctl restart virtio-forwarder/);
  });

  test('EPERM, EACCES and EAFNOSUPPORT under systemd are explained, with the errno kept', () => {
    for (const errno of [1, 13, 97]) {
      const e = explainDenied(new DataplaneError('cannot start port: Operation not permitted', errno), ['net_af_packet0,iface=v0'], systemd);
      expect(e).toBeInstanceOf(DataplaneError);
      expect((e as DataplaneError).errno).toBe(errno);
      expect((e as DataplaneError).message).toBe("cannot start port: Operation not permitted: virtio-forwarder.service's sandbox may not allow " +
        'this device; it needs net_af_packet0 (af_packet): CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW and RestrictAddressFamilies=AF_PACKET. ' +
        'Add that in a drop-in (systemctl edit virtio-forwarder; docs/security.md)');
    }
  });

  test('other errors, and any error outside systemd, pass unchanged', () => {
    const busy = new DataplaneError('cannot start port: Device or resource busy', 16);
    expect(explainDenied(busy, ['net_tap0'], systemd)).toBe(busy);
    const denied = new DataplaneError('cannot start port: Operation not permitted', 1);
    expect(explainDenied(denied, ['net_tap0'], {})).toBe(denied);
    const other = new Error('x');
    expect(explainDenied(other, ['net_tap0'], systemd)).toBe(other);
  });
});
