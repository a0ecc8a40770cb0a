// virtioforwarder_stats.py, at the path the original installed: its flags
// (--stats-ep, --include-inactive, --delay 200, --output-format flat|protobuf,
// -z) and its two outputs, which monitoring scripts parse:
//   flat      relay_<id>.<path>=<value>, one line per field the reply carries,
//             values as Python prints them (True, 1234.5, ...);
//   protobuf  the reply in protobuf's text format, as the official runtime
//             prints it.
// Exit codes: 0 done, 1 refused or no reply, 2 bad usage.
import { cliParser, DEFAULT_ENDPOINTS, has, parseOrFail, pyFloat, StatsStatus, textFormat, wire, type WireMessage, zmqRequest } from '@vio4wd/common';
import { checkDelay, type Io } from './cli.js';

type Msg = WireMessage & Record<string, unknown>;

const VF_TO_VM = ['pkts_rx_from_vf', 'bytes_rx_from_vf', 'pkts_tx_to_vm', 'bytes_tx_to_vm', 'pkt_rate_rx_from_vf', 'byte_rate_rx_from_vf',
  'pkt_rate_tx_to_vm', 'byte_rate_tx_to_vm', 'pkts_dropped_vm_queue_full', 'bytes_dropped_vm_queue_full', 'pkts_dropped_vm_not_connected',
  'bytes_dropped_vm_not_connected'];
const VM_TO_VF = ['pkts_rx_from_vm', 'bytes_rx_from_vm', 'pkts_tx_to_vf', 'bytes_tx_to_vf', 'pkt_rate_rx_from_vm', 'byte_rate_rx_from_vm',
  'pkt_rate_tx_to_vf', 'byte_rate_tx_to_vf', 'pkts_dropped_vf_queue_full', 'bytes_dropped_vf_queue_full', 'pkts_dropped_vf_not_connected',
  'bytes_dropped_vf_not_connected'];

/** A field's value as Python's str.format shows it, or null when -z hides it (an integer 0). */
function pyValue(msg: Msg, name: string, suppressZero: boolean): string | null {
  const field = (msg.constructor as unknown as { $type: { fields: Record<string, { type: string } | undefined> } }).$type.fields[name];
  const v = msg[name];
  if (field?.type === 'bool') return v ? 'True' : 'False';
  if (field?.type === 'float' || field?.type === 'double') return pyFloat(Number(v));
  if (field?.type === 'string') return String(v);
  const text = String(v); // integers (Long for 64-bit)
  return suppressZero && text === '0' ? null : text;
}

/** The flat lines of one StatsResponse (decoded with presence). */
export function flatLines(reply: WireMessage, suppressZero: boolean): string[] {
  const out: string[] = [];
  for (const r of (reply as Msg).relay as Msg[]) {
    const line = (o: Msg | undefined, path: string[], name: string) => {
      if (!o || !has(o, name)) return;
      const v = pyValue(o, name, suppressZero);
      if (v !== null) out.push([`relay_${String(r.id)}`, ...path, `${name}=${v}`].join('.'));
    };
    const cpu = has(r, 'cpu') ? (r.cpu as Msg) : undefined;
    line(r, [], 'active');
    line(cpu, ['cpu'], 'vf_to_vm');
    line(cpu, ['cpu'], 'vm_to_vf');
    line(has(r, 'vf') ? (r.vf as Msg) : undefined, ['vf'], 'pci_addr_str');
    line(r.vhost as Msg, ['vhost'], 'vhost_socket_name');
    for (const [dir, fields] of [['vf_to_vm', VF_TO_VM], ['vm_to_vf', VM_TO_VF]] as const) {
      const d = r[dir] as Msg;
      line(d, [dir], 'active');
      line(d, [dir], 'internal_state');
      // The counters sit under the CPU that serves the direction, when the reply names it.
      const path = cpu && has(cpu, dir) ? [dir, `cpu_${String(cpu[dir])}`] : [dir];
      for (const f of fields) line(d, path, f);
    }
  }
  return out;
}

export async function runVirtioforwarderStats(argv: string[], io: Io): Promise<number> {
  const a = await parseOrFail(cliParser(argv)
    .scriptName('virtioforwarder_stats.py')
    .usage('$0 [options]\n\nvirtio-forwarder relay statistics, in the original tool\'s output formats.')
    .option('stats-ep', { type: 'string', default: DEFAULT_ENDPOINTS.stats, describe: 'ZeroMQ statistics endpoint' })
    .option('include-inactive', { type: 'boolean', default: false, describe: 'include inactive relays in the response' })
    .option('delay', { type: 'number', default: 200, describe: 'ms between the two samples rate statistics come from' })
    .option('output-format', { choices: ['flat', 'protobuf'] as const, default: 'flat' as const, describe: 'output format' })
    .option('suppress-zero', { alias: 'z', type: 'boolean', default: false, describe: 'hide statistics that are zero (flat output only)' })
    .check((x) => checkDelay(x.delay))
    .version(false), io);
  if (typeof a === 'number') return a;
  let reply: WireMessage;
  try {
    const req = wire.StatsRequest.encode({ relay: [], include_inactive: a['include-inactive'], delay: a.delay });
    reply = wire.StatsResponse.decodeRaw(await zmqRequest(a['stats-ep'], req, 2000 + a.delay));
  } catch (e) {
    io.err(e instanceof Error ? e.message : String(e));
    return 1;
  }
  const status = Number((reply as Msg).status);
  if (status !== StatsStatus.OK) {
    const name = Object.entries(StatsStatus).find(([, v]) => v === status)?.[0] ?? String(status);
    io.err(`StatsResponse: ${name}`);
    return 1;
  }
  if (a['output-format'] === 'protobuf') io.out(textFormat(reply));
  else for (const l of flatLines(reply, a['suppress-zero'])) io.out(l);
  return 0;
}
