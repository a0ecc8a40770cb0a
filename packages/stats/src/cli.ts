// vio4wd-stats: relay counters and rates from the stats endpoint.
import { checkTimeout, CLI_TIMEOUT_MS, cliParser, DEFAULT_ENDPOINTS, MAX_RELAYS, MAX_STATS_DELAY_MS, parseOrFail, type RelayState, StatsStatus, TimeoutError, wire, zmqRequest } from '@vio4wd/common';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/** --delay: whole milliseconds the endpoint accepts. */
export function checkDelay(delay: number): true {
  if (!Number.isInteger(delay) || delay < 0 || delay > MAX_STATS_DELAY_MS)
    throw new Error(`--delay ${delay}: give whole milliseconds from 0 to ${MAX_STATS_DELAY_MS}`);
  return true;
}

const fmtRate = (r: number) => (r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : r.toFixed(0));

export function formatRelay(r: RelayState): string[] {
  const f = r.vf_to_vm;
  const m = r.vm_to_vf;
  return [
    `relay ${r.id}  VF ${r.vf?.pci_addr_str ?? '?'}  <->  ${r.vhost.vhost_socket_name}  [${f.internal_state}]  cpu ${r.cpu?.vf_to_vm ?? '?'}/${r.cpu?.vm_to_vf ?? '?'}` +
      `${r.ident !== undefined ? `  ident ${JSON.stringify(r.ident)}` : ''}`,
    `  VF->VM  rx ${f.pkts_rx_from_vf} pkts ${f.bytes_rx_from_vf} B  tx ${f.pkts_tx_to_vm}  drop full ${f.pkts_dropped_vm_queue_full} not-connected ${f.pkts_dropped_vm_not_connected}  ${fmtRate(f.pkt_rate_rx_from_vf)} pps`,
    `  VM->VF  rx ${m.pkts_rx_from_vm} pkts ${m.bytes_rx_from_vm} B  tx ${m.pkts_tx_to_vf}  drop full ${m.pkts_dropped_vf_queue_full} not-connected ${m.pkts_dropped_vf_not_connected}  ${fmtRate(m.pkt_rate_rx_from_vm)} pps`,
  ];
}

export async function runCli(argv: string[], io: Io): Promise<number> {
  const a = await parseOrFail(cliParser(argv)
    .scriptName('vio4wd-stats')
    .usage('$0 [options]\n\nShow virtio-forwarder relay statistics.')
    .option('relay', { type: 'number', array: true, default: [], describe: 'relay id (repeat; default all)' })
    .option('delay', { type: 'number', default: 1000, describe: 'ms between the two samples rates come from' })
    .option('active-only', { type: 'boolean', default: false, describe: 'hide relays with no VM connected' })
    .option('zmq_ep', { alias: 'zmq-ep', type: 'string', default: DEFAULT_ENDPOINTS.stats })
    .option('json', { type: 'boolean', default: false, describe: 'print the reply as JSON' })
    .option('watch', { type: 'boolean', default: false, describe: 'repeat until interrupted' })
    .option('timeout', { type: 'number', default: CLI_TIMEOUT_MS, describe: 'ms to wait for the reply, on top of --delay' })
    .check((x) => {
      const bad = x.relay.find((r) => !Number.isInteger(r) || r < 0 || r >= MAX_RELAYS);
      if (bad !== undefined) throw new Error(`--relay ${bad}: relay ids are 0-${MAX_RELAYS - 1}`);
      return checkDelay(x.delay) && checkTimeout(x.timeout);
    }), io);
  if (typeof a === 'number') return a;
  do {
    try {
      const req = wire.StatsRequest.encode({ relay: a.relay, include_inactive: !a['active-only'], delay: a.delay });
      const rep = wire.StatsResponse.decode(await zmqRequest(a.zmq_ep, req, a.delay + a.timeout));
      if (rep.status !== StatsStatus.OK) {
        io.err(`stats refused (status ${rep.status})`);
        return 1;
      }
      if (a.json) io.out(JSON.stringify(rep));
      else if (rep.relay.length === 0) io.out('no relays');
      else for (const r of rep.relay) for (const l of formatRelay(r)) io.out(l);
    } catch (e) {
      io.err(e instanceof TimeoutError || e instanceof Error ? e.message : String(e));
      return 3;
    }
  } while (a.watch);
  return 0;
}
