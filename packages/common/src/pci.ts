// PCI addresses as the port-control protocol carries them.
export interface PciAddress {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

const FULL = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/;
const SHORT = /^([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/;

/** Parses DDDD:BB:SS.F or BB:SS.F (domain 0); null when malformed. */
export function parsePciAddress(text: string): PciAddress | null {
  const full = FULL.exec(text);
  const m = full ? full.slice(1) : SHORT.exec(text)?.slice(1);
  if (!m) return null;
  const nums = m.map((x) => Number.parseInt(x, 16));
  const [domain, bus, slot, fn] = full ? nums : [0, ...nums];
  if (domain === undefined || bus === undefined || slot === undefined || fn === undefined) return null;
  if (slot > 0x1f) return null;
  return { domain, bus, slot, function: fn };
}

/** Whether the numbers fit a PCI address (16-bit domain, 8-bit bus, 5-bit slot, 3-bit function). */
export function isValidPciAddress(a: PciAddress): boolean {
  return a.domain <= 0xffff && a.bus <= 0xff && a.slot <= 0x1f && a.function <= 7;
}

export function formatPciAddress(a: PciAddress): string {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${a.function}`;
}
