// The ZeroMQ wire messages (proto/virtioforwarder.proto), encoded and
// decoded with protobufjs and validated with zod where they enter.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { z } from 'zod';

export const PROTO_PATH = fileURLToPath(new URL('../proto/virtioforwarder.proto', import.meta.url));

const root = new protobuf.Root();
root.loadSync(PROTO_PATH, { keepCase: true });
root.resolveAll();

function type(name: string): protobuf.Type {
  return root.lookupType(`virtioforwarder.${name}`);
}

export const PortControlOp = { ADD: 0, REMOVE: 1, ADD_SOCK: 2, REMOVE_SOCK: 3, QUERY_PCI: 4 } as const;
export type PortControlOpName = keyof typeof PortControlOp;
export const PortControlStatus = { ERROR: 0, OK: 1 } as const;
export const StatsStatus = { OK: 0, EBADR: 400, E2BIG: 413, ENOMEM: 500 } as const;
/** The longest rate interval a StatsRequest may ask for. */
export const MAX_STATS_DELAY_MS = 10000;

const u32 = z.number().int().min(0).max(0xffffffff);
const i32 = z.number().int().min(-0x80000000).max(0x7fffffff);
// 64-bit counters arrive as numbers: exact up to 2^53, rounded above (a
// reply is never refused for a counter a JS integer cannot hold exactly).
const u64 = z.number().min(0).refine(Number.isInteger, { message: 'expected an integer' });

export const pciAddressSchema = z.object({ domain: u32, bus: u32, slot: u32, function: u32 });

export const portControlRequestSchema = z.object({
  op: z.number().int().min(0).max(4),
  pci_addrs: z.array(pciAddressSchema).default([]),
  virtio_id: u32.optional(),
  conditional: z.boolean().default(true),
  name: z.string().optional(),
  mode: u32.optional(),
  vhost_path: z.string().optional(),
  ident: z.string().optional(),
});
export type PortControlRequest = z.infer<typeof portControlRequestSchema>;
export type PortControlRequestInput = z.input<typeof portControlRequestSchema>;

/** The status and error fields PortControlResponse and CoreSchedResponse share (ERROR=0, OK=1). */
const statusWithError = {
  status: z.number().int().min(0).max(1),
  error_code: i32.optional(),
  error_code_source: z.string().optional(),
};

export const portControlResponseSchema = z.object({ ...statusWithError, query_string: z.string().optional() });
export type PortControlResponse = z.infer<typeof portControlResponseSchema>;

export const statsRequestSchema = z.object({
  relay: z.array(u32).default([]),
  include_inactive: z.boolean().default(true),
  delay: u32.default(0),
});
export type StatsRequest = z.infer<typeof statsRequestSchema>;
export type StatsRequestInput = z.input<typeof statsRequestSchema>;

const vfToVmSchema = z.object({
  active: z.boolean(),
  internal_state: z.string(),
  pkts_rx_from_vf: u64.default(0),
  bytes_rx_from_vf: u64.default(0),
  pkts_tx_to_vm: u64.default(0),
  bytes_tx_to_vm: u64.default(0),
  pkts_dropped_vm_queue_full: u64.default(0),
  bytes_dropped_vm_queue_full: u64.default(0),
  pkts_dropped_vm_not_connected: u64.default(0),
  bytes_dropped_vm_not_connected: u64.default(0),
  pkt_rate_rx_from_vf: z.number(),
  byte_rate_rx_from_vf: z.number(),
  pkt_rate_tx_to_vm: z.number(),
  byte_rate_tx_to_vm: z.number(),
  busy_cycles: u64.optional(),
  load: z.number().optional(),
});
const vmToVfSchema = z.object({
  active: z.boolean(),
  internal_state: z.string(),
  pkts_rx_from_vm: u64.default(0),
  bytes_rx_from_vm: u64.default(0),
  pkts_tx_to_vf: u64.default(0),
  bytes_tx_to_vf: u64.default(0),
  pkts_dropped_vf_queue_full: u64.default(0),
  bytes_dropped_vf_queue_full: u64.default(0),
  pkts_dropped_vf_not_connected: u64.default(0),
  bytes_dropped_vf_not_connected: u64.default(0),
  pkt_rate_rx_from_vm: z.number(),
  byte_rate_rx_from_vm: z.number(),
  pkt_rate_tx_to_vf: z.number(),
  byte_rate_tx_to_vf: z.number(),
  busy_cycles: u64.optional(),
  load: z.number().optional(),
});
export const relayStateSchema = z.object({
  id: u32,
  active: z.boolean(),
  ident: z.string().optional(),
  cpu: z.object({ vf_to_vm: i32.optional(), vm_to_vf: i32.optional() }).optional(),
  vhost: z.object({ vhost_socket_name: z.string() }),
  vf: z.object({ pci_addr_str: z.string().optional() }).optional(),
  vf_to_vm: vfToVmSchema,
  vm_to_vf: vmToVfSchema,
  socket_id: u32,
});
export type RelayState = z.infer<typeof relayStateSchema>;

export const workerLoadSchema = z.object({
  cpu: u32,
  busy_cycles: u64,
  idle_cycles: u64,
  numa_node: u32.optional(),
  load: z.number().optional(),
});
export type WorkerLoad = z.infer<typeof workerLoadSchema>;

export const statsResponseSchema = z.object({
  status: z.number().int(),
  relay: z.array(relayStateSchema).default([]),
  tsc_hz: u64.optional(),
  worker: z.array(workerLoadSchema).default([]),
});
export type StatsResponse = z.infer<typeof statsResponseSchema>;

export const ConfigStatus = { OK: 0, EBADR: 400 } as const;
export const CoreSchedOp = { UPDATE: 0, GET_EAL_CORES: 1 } as const;
export const CoreSchedStatus = { ERROR: 0, OK: 1 } as const;

export const relayCpuSchema = z.object({ relay_number: i32, vf2virtio_cpu: i32, virtio2vf_cpu: i32 });
export type RelayCpu = z.infer<typeof relayCpuSchema>;

export const configRequestSchema = z.object({});
export type ConfigRequest = z.infer<typeof configRequestSchema>;

export const configResponseSchema = z.object({
  status: z.number().int(),
  relay_cpu_map: z.array(relayCpuSchema).default([]),
});
export type ConfigResponse = z.infer<typeof configResponseSchema>;

export const coreSchedRequestSchema = z.object({
  op: z.number().int().min(0).max(1),
  relay_cpu_map: z.array(relayCpuSchema).default([]),
});
export type CoreSchedRequest = z.infer<typeof coreSchedRequestSchema>;
export type CoreSchedRequestInput = z.input<typeof coreSchedRequestSchema>;

export const coreSchedResponseSchema = z.object({ ...statusWithError, eal_cores: z.array(u32).default([]) });
export type CoreSchedResponse = z.infer<typeof coreSchedResponseSchema>;

/** A message that did not decode, or decoded into something invalid. */
export class WireError extends Error {}

interface Codec<T> {
  encode(msg: T): Buffer;
  decode(buf: Uint8Array): T;
  /** The protobufjs message as decoded: field presence and 64-bit values (Long) as on the wire. */
  decodeRaw(buf: Uint8Array): protobuf.Message;
}

function codec<S extends z.ZodType>(name: string, schema: S): Codec<z.infer<S>> {
  const t = type(name);
  const fail = (e: unknown) => new WireError(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  const raw = (buf: Uint8Array): protobuf.Message => {
    try {
      return t.decode(buf);
    } catch (e) {
      throw fail(e);
    }
  };
  /** The schema's view of a decoded message (no defaults: absent optional fields stay absent; presence matters). */
  const validated = (msg: protobuf.Message): z.infer<S> => {
    let obj: Record<string, unknown>;
    try {
      obj = t.toObject(msg, { longs: Number, enums: Number, arrays: false });
    } catch (e) {
      throw fail(e);
    }
    const parsed = schema.safeParse(obj);
    if (!parsed.success) throw new WireError(`${name}: ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  };
  return {
    encode(msg) {
      const err = t.verify(msg as Record<string, unknown>);
      if (err) throw new WireError(`${name}: ${err}`);
      return Buffer.from(t.encode(t.fromObject(msg as Record<string, unknown>)).finish());
    },
    decode: (buf) => validated(raw(buf)),
    decodeRaw(buf) {
      const msg = raw(buf);
      // The same checks as decode(): a reply that does not validate is not printed either.
      validated(msg);
      return msg;
    },
  };
}

export const wire = {
  PortControlRequest: codec('PortControlRequest', portControlRequestSchema),
  PortControlResponse: codec('PortControlResponse', portControlResponseSchema),
  StatsRequest: codec('StatsRequest', statsRequestSchema),
  StatsResponse: codec('StatsResponse', statsResponseSchema),
  ConfigRequest: codec('ConfigRequest', configRequestSchema),
  ConfigResponse: codec('ConfigResponse', configResponseSchema),
  CoreSchedRequest: codec('CoreSchedRequest', coreSchedRequestSchema),
  CoreSchedResponse: codec('CoreSchedResponse', coreSchedResponseSchema),
};
