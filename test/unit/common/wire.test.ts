// The protobuf messages as the original encodes them.
import { describe, expect, test } from '@jest/globals';
import { wire } from '@vio4wd/common';

describe('wire messages', () => {
  test('a port control request round-trips and keeps absent fields absent', () => {
    const frame = wire.PortControlRequest.encode({ op: 2, pci_addrs: [{ domain: 0, bus: 5, slot: 8, function: 1 }], conditional: false, vhost_path: '/x' });
    // Field 1 (op, varint) = 2, as the original encodes it.
    expect(frame.subarray(0, 2)).toEqual(Buffer.from([0x08, 0x02]));
    const back = wire.PortControlRequest.decode(frame);
    expect(back).toEqual({ op: 2, pci_addrs: [{ domain: 0, bus: 5, slot: 8, function: 1 }], conditional: false, vhost_path: '/x' });
    expect('virtio_id' in back).toBe(false);
  });

  test('a relay identity travels as field 8 (a string), after the original\'s fields; a request without it has none', () => {
    const frame = wire.PortControlRequest.encode({ op: 2, pci_addrs: [], conditional: false, vhost_path: '/x', ident: 'vm-7' });
    // Field 8, length-delimited (8 << 3 | 2 = 0x42), 4 bytes.
    expect(frame.subarray(frame.length - 6)).toEqual(Buffer.from([0x42, 0x04, ...Buffer.from('vm-7')]));
    expect(wire.PortControlRequest.decode(frame).ident).toBe('vm-7');
    expect('ident' in wire.PortControlRequest.decode(Buffer.from([0x08, 0x02]))).toBe(false);
  });

  test('conditional defaults to true when not sent', () => {
    expect(wire.PortControlRequest.decode(Buffer.from([0x08, 0x00])).conditional).toBe(true);
  });
});
