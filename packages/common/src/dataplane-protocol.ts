// The dataplane control protocol (docs/control-protocol.md): requests are
// "key=value" lines, replies one JSON object, each in a frame of a 4-byte
// big-endian length and the payload, over a unix stream socket.
import { z } from 'zod';

export const MAX_RELAYS = 64;

const u64 = z.number().int().min(0);

export const dirStatsSchema = z.object({
  rx_pkts: u64,
  rx_bytes: u64,
  tx_pkts: u64,
  tx_bytes: u64,
  drop_full_pkts: u64,
  drop_full_bytes: u64,
  drop_nc_pkts: u64,
  drop_nc_bytes: u64,
  busy_cycles: u64,
});
export type DirStats = z.infer<typeof dirStatsSchema>;

export const dataplaneRelaySchema = z.object({
  id: z.number().int().min(0).max(MAX_RELAYS - 1),
  vf: z.string(),
  vf_name: z.string(),
  bond: z.string().optional(),
  bond_mode: z.number().int().min(0).max(6).optional(),
  vf_port: z.number().int(),
  vhost_path: z.string(),
  vhost_client: z.boolean(),
  connected: z.boolean(),
  vf_up: z.boolean(),
  /** The VF was hot-unplugged and let go of: the relay has none until it is removed and added again. */
  vf_gone: z.boolean().optional(),
  socket_id: z.number().int().min(0),
  vhost_features: z.number().int().min(0),
  vf_mtu: z.number().int().min(0),
  vf_rx_missed: z.number().int().min(0),
  /** VMs that connected to (and disconnected from) the relay's socket since it was added. */
  vm_connects: u64,
  vm_disconnects: u64,
  buffer_node: z.number().int().min(-1),
  cpu: z.tuple([z.number().int(), z.number().int()]),
  vf_to_vm: dirStatsSchema,
  vm_to_vf: dirStatsSchema,
});
export type DataplaneRelay = z.infer<typeof dataplaneRelaySchema>;

export const workerSchema = z.object({ lcore: z.number().int(), busy_cycles: u64, idle_cycles: u64, numa_node: z.number().int().min(-1).optional() });
export type DataplaneWorker = z.infer<typeof workerSchema>;

export const errorReplySchema = z.object({ ok: z.literal(false), errno: z.number().int(), error: z.string() });

export const helloReplySchema = z.object({
  ok: z.literal(true),
  version: z.number().int(),
  pid: z.number().int(),
  tsc_hz: u64,
  /** DPDK's release (rte_version()). */
  dpdk: z.string().optional(),
  workers: z.array(workerSchema),
});
export type HelloReply = z.infer<typeof helloReplySchema>;
export const statsReplySchema = z.object({
  ok: z.literal(true),
  tsc: u64,
  tsc_hz: u64,
  workers: z.array(workerSchema),
  relays: z.array(dataplaneRelaySchema),
});
export type StatsReply = z.infer<typeof statsReplySchema>;
export const addReplySchema = z.object({ ok: z.literal(true), relay: z.array(dataplaneRelaySchema).length(1) });
export const okReplySchema = z.object({ ok: z.literal(true) });
export const notifyReplySchema = z.object({ ok: z.literal(true), sent: z.boolean() });

export interface AddRelayRequest {
  id: number;
  /** PCI address or DPDK device arguments. */
  vf: string;
  vhostPath: string;
  vhostClient: boolean;
  /** [VF->VM CPU, VM->VF CPU]; absent: least busy worker. */
  cpu?: [number, number];
  /** vf then lists the members, ';' between. */
  bond?: { name: string; mode: number };
  /** Who the relay serves, for the dataplane's messages about it (1-128 bytes, printable). */
  ident?: string;
}

/** Encodes a request as key=value lines; refuses values that would break the framing. */
export function encodeRequest(fields: Record<string, string | number>): Buffer {
  const lines = Object.entries(fields).map(([k, v]) => {
    const s = String(v);
    if (/[\n\0]/.test(s)) throw new Error(`control request field ${k} contains a newline or NUL`);
    return `${k}=${s}`;
  });
  const payload = Buffer.from(lines.join('\n'), 'utf8');
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}
