// A VF the service's sandbox does not let the dataplane open fails with a
// bare errno ("cannot start port: Operation not permitted"). Under systemd
// (INVOCATION_ID is set for every unit's processes), say what the device
// kind needs that the shipped unit leaves out, and where the drop-in is.
import { DataplaneError } from '@vio4wd/common';
import { isPciDevice } from './preflight.js';

const DENIED = new Set([1 /* EPERM */, 13 /* EACCES */, 97 /* EAFNOSUPPORT */]);

/** What a device (PCI address or DPDK device arguments) needs beyond the shipped unit. */
export function deviceNeeds(device: string): string {
  if (isPciDevice(device))
    return `PCI VF ${device}: on vfio-pci its /dev/vfio/<group> (DeviceAllow=char-vfio, which is shipped, only covers vfio loaded ` +
      'before the service started: systemctl restart virtio-forwarder; VIRTIOFWD_BIND_VFIO_PCI does it in order); ' +
      'on igb_uio/uio_pci_generic CapabilityBoundingSet=CAP_SYS_ADMIN CAP_SYS_RAWIO and DeviceAllow=char-uio rw';
  const driver = device.split(',')[0] ?? device;
  if (/^net_af_packet/.test(driver))
    return `${driver} (af_packet): CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW and RestrictAddressFamilies=AF_PACKET`;
  if (/^net_(tap|tun)/.test(driver))
    return `${driver} (tap): CapabilityBoundingSet=CAP_NET_ADMIN and DeviceAllow=/dev/net/tun rw`;
  if (/^net_af_xdp/.test(driver))
    return `${driver} (AF_XDP): CapabilityBoundingSet=CAP_NET_RAW CAP_BPF CAP_SYS_ADMIN and RestrictAddressFamilies=AF_XDP`;
  return `${driver}: whatever its driver opens (devices: DeviceAllow=; sockets: RestrictAddressFamilies=; capabilities: CapabilityBoundingSet=)`;
}

/** e, or for a denial under systemd the same error explained. */
export function explainDenied(e: unknown, devices: string[], env: NodeJS.ProcessEnv = process.env): unknown {
  if (!(e instanceof DataplaneError) || !DENIED.has(e.errno) || env.INVOCATION_ID === undefined) return e;
  return new DataplaneError(`${e.message}: virtio-forwarder.service's sandbox may not allow this device; ` +
    `it needs ${devices.map(deviceNeeds).join('; ')}. Add that in a drop-in (systemctl edit virtio-forwarder; docs/security.md)`, e.errno);
}
