// The bench's feature sets (BENCH_FEATURES), their decoding, the refusal to
// compare contestants that negotiated differently, and the OVS PMD figure it
// reads: plain functions, no DPDK.
import { describe, expect, test } from '@jest/globals';
import { SHIPPED, checkSameFeatures, decodeFeatures, parseFeatures, virtioUserArgs } from '../../bench/features.js';
import { pmdCycles } from '../../bench/ovs.js';

describe('bench features', () => {
  test('the default is what the default file ships', () => {
    expect(parseFeatures(undefined)).toEqual(SHIPPED);
    expect(SHIPPED).toEqual({ mrgRxbuf: true, inOrder: true, packed: false, jumbo: true });
    expect(virtioUserArgs(SHIPPED)).toBe('mrg_rxbuf=1,in_order=1,packed_vq=0');
  });

  test('BENCH_FEATURES changes some, for every contestant', () => {
    expect(parseFeatures('mrg_rxbuf=0, packed_vq=1')).toEqual({ ...SHIPPED, mrgRxbuf: false, packed: true });
    expect(virtioUserArgs(parseFeatures('in_order=0'))).toBe('mrg_rxbuf=1,in_order=0,packed_vq=0');
  });

  test.each(['tso=1', 'mrg_rxbuf=2', 'mrg_rxbuf', 'jumbo=yes'])('BENCH_FEATURES=%s is refused, naming the keys', (s) => {
    expect(() => parseFeatures(s)).toThrow(/BENCH_FEATURES: .* KEY one of mrg_rxbuf, in_order, packed_vq, jumbo/);
  });

  test('negotiated features decode by name', () => {
    // What all three contestants negotiated with the shipped set (the bench's own run).
    expect(decodeFeatures(0x950008000)).toBe('0x950008000 (MRG_RXBUF INDIRECT_DESC PROTOCOL_FEATURES VERSION_1 IN_ORDER)');
    expect(decodeFeatures(2 ** 63 + 2 ** 15)).toBe('0x8000000000008000 (MRG_RXBUF bit63)');
  });

  test('contestants that negotiated differently are not compared', () => {
    expect(() => checkSameFeatures([{ name: 'vio4wd', features: 0x950008000 }, { name: 'testpmd', features: 0x950008000 }])).not.toThrow();
    expect(() => checkSameFeatures([{ name: 'vio4wd', features: 0x950000000 }, { name: 'OVS-DPDK', features: 0x950008000 }]))
      .toThrow(/not compared.*\n {2}vio4wd: 0x950000000 \(INDIRECT_DESC PROTOCOL_FEATURES VERSION_1 IN_ORDER\)\n {2}OVS-DPDK: 0x950008000 \(MRG_RXBUF/);
    // Unknown (0: not connected) is no agreement either.
    expect(() => checkSameFeatures([{ name: 'a', features: 0 }, { name: 'b', features: 0 }])).toThrow(/unknown/);
  });

  test("OVS's PMD cycles per packet come from the PMD thread on the worker CPU, not the main thread", () => {
    const stats = [
      'pmd thread numa_id 0 core_id 1:',
      '  packets received: 40186400',
      '  avg cycles per packet: 287.31 (11546130255/40186400)',
      '  avg processing cycles per packet: 193.05 (7758136516/40186400)',
      'main thread:',
      '  packets received: 0',
      '  avg processing cycles per packet: 9.00 (9/1)',
    ].join('\n');
    expect(pmdCycles(stats, 1)).toBe(193.05);
    expect(() => pmdCycles(stats, 0)).toThrow(/no PMD thread on CPU 0/);
    expect(() => pmdCycles('pmd thread numa_id 0 core_id 1:\n  packets received: 0\n', 1)).toThrow(/processing cycles/);
  });
});
