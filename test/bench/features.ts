// The features every relay under test runs with (npm run bench): by
// default those virtio-forwarder ships (/etc/default/virtioforwarder:
// VIRTIOFWD_JUMBO=true, VIRTIOFWD_MRGBUF=true, VIRTIOFWD_TSO=false) and the
// virtqueue layout the generator's virtio_user asks for by default (split
// rings, in order); BENCH_FEATURES changes them for every contestant at
// once. What each contestant's vhost-user connection negotiated is read
// back and decoded; contestants that negotiated differently are not
// compared.

export interface Features {
  /** Mergeable receive buffers offered to the VM (virtio_user mrg_rxbuf=, ours --mrgbuf). */
  mrgRxbuf: boolean;
  /** VIRTIO_F_IN_ORDER asked by the VM (virtio_user in_order=). */
  inOrder: boolean;
  /** Packed virtqueues asked by the VM (virtio_user packed_vq=). */
  packed: boolean;
  /** VF MTU 9000 with multi-segment frames (ours --jumbo; testpmd --max-pkt-len; OVS mtu_request). */
  jumbo: boolean;
}

/** What the default file ships, and the generator's own virtqueue defaults (DPDK 22.11 virtio_user). */
export const SHIPPED: Features = { mrgRxbuf: true, inOrder: true, packed: false, jumbo: true };

const KEYS: Record<string, keyof Features> = { mrg_rxbuf: 'mrgRxbuf', in_order: 'inOrder', packed_vq: 'packed', jumbo: 'jumbo' };

/**
 * BENCH_FEATURES: comma-separated KEY=0|1 changes to the shipped set, KEY
 * one of mrg_rxbuf, in_order, packed_vq, jumbo (e.g. "mrg_rxbuf=0").
 */
export function parseFeatures(s: string | undefined): Features {
  const f = { ...SHIPPED };
  for (const item of (s ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)=([01])$/.exec(item);
    const key = m?.[1] === undefined ? undefined : KEYS[m[1]];
    if (!m || key === undefined) {
      throw new Error(`BENCH_FEATURES: '${item}' is not KEY=0 or KEY=1 with KEY one of ${Object.keys(KEYS).join(', ')}`);
    }
    f[key] = m[2] === '1';
  }
  return f;
}

export function describeFeatures(f: Features): string {
  return `mergeable rx buffers ${f.mrgRxbuf ? 'on' : 'off'}, ${f.packed ? 'packed' : 'split'} virtqueues, in_order ${f.inOrder ? 'asked' : 'not asked'}, ` +
    `jumbo ${f.jumbo ? 'on (MTU 9000 asked of the VF; memif gives 1500)' : 'off'}, checksum/TSO offloads off`;
}

/** The generator's virtio_user device arguments for these features. */
export const virtioUserArgs = (f: Features) => `mrg_rxbuf=${Number(f.mrgRxbuf)},in_order=${Number(f.inOrder)},packed_vq=${Number(f.packed)}`;

/** Virtio feature bits by name (virtio 1.2 and vhost-user), for what was negotiated. */
const BITS: Record<number, string> = {
  0: 'CSUM', 1: 'GUEST_CSUM', 2: 'CTRL_GUEST_OFFLOADS', 3: 'MTU', 5: 'MAC', 7: 'GUEST_TSO4', 8: 'GUEST_TSO6',
  9: 'GUEST_ECN', 10: 'GUEST_UFO', 11: 'HOST_TSO4', 12: 'HOST_TSO6', 13: 'HOST_ECN', 14: 'HOST_UFO', 15: 'MRG_RXBUF',
  16: 'STATUS', 17: 'CTRL_VQ', 18: 'CTRL_RX', 19: 'CTRL_VLAN', 21: 'GUEST_ANNOUNCE', 22: 'MQ', 23: 'CTRL_MAC_ADDR',
  24: 'NOTIFY_ON_EMPTY', 26: 'LOG_ALL', 27: 'ANY_LAYOUT', 28: 'INDIRECT_DESC', 29: 'EVENT_IDX', 30: 'PROTOCOL_FEATURES',
  32: 'VERSION_1', 33: 'ACCESS_PLATFORM', 34: 'RING_PACKED', 35: 'IN_ORDER', 36: 'ORDER_PLATFORM', 38: 'NOTIFICATION_DATA',
};

/** "0x950008000 (MRG_RXBUF INDIRECT_DESC ...)". */
export function decodeFeatures(x: number): string {
  const names: string[] = [];
  for (let b = 0; b < 64; b++) {
    if (Math.floor(x / 2 ** b) % 2 === 1) names.push(BITS[b] ?? `bit${b}`);
  }
  return `0x${x.toString(16)} (${names.join(' ') || 'none'})`;
}

/**
 * Refuses to compare contestants whose VM connections negotiated different
 * features: throws naming each one's set.
 */
export function checkSameFeatures(named: { name: string; features: number }[]): void {
  const first = named[0];
  if (!first) return;
  if (named.some((n) => !Number.isSafeInteger(n.features) || n.features === 0)) {
    throw new Error(`negotiated virtio features unknown: ${named.map((n) => `${n.name} ${String(n.features)}`).join(', ')}`);
  }
  if (named.every((n) => n.features === first.features)) return;
  throw new Error(`not compared: the contestants' VM connections negotiated different virtio features:\n${
    named.map((n) => `  ${n.name}: ${decodeFeatures(n.features)}`).join('\n')}`);
}
