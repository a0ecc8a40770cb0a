import { describe, expect, test } from '@jest/globals';
import { formatPciAddress, parsePciAddress } from '@vio4wd/common';

describe('PCI addresses', () => {
  test.each([
    ['0000:05:08.1', { domain: 0, bus: 5, slot: 8, function: 1 }],
    ['05:08.1', { domain: 0, bus: 5, slot: 8, function: 1 }],
    ['abcd:ff:1f.7', { domain: 0xabcd, bus: 0xff, slot: 0x1f, function: 7 }],
  ])('%s parses', (text, addr) => {
    expect(parsePciAddress(text)).toEqual(addr);
  });

  test.each(['', '0000:05:08', '0000:05:08.8', '0000:05:20.1', '0000:zz:08.1', '00000:05:08.1', ' 05:08.1'])('%j is refused', (text) => {
    expect(parsePciAddress(text)).toBeNull();
  });

  test('formats with a domain and lower-case hex', () => {
    expect(formatPciAddress({ domain: 0, bus: 0xab, slot: 0x1f, function: 3 })).toBe('0000:ab:1f.3');
  });
});
