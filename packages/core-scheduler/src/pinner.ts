// vio4wd-pinner (virtioforwarder_core_pinner): the relay-to-CPU map, and
// run-time pins in the configuration file's syntax --virtio-cpu=RN:Ci[,Cj]
// (Ci serves VF->VM, Cj VM->VF; one CPU serves both).
import { cliParser, CoreSchedOp, CoreSchedStatus, MAX_RELAYS, type RelayCpu, ReqClient, wire } from '@vio4wd/common';
import { cpuMap, formatView, readStats } from './cpu-map.js';
import { endpointOf, endpointOptions, EXIT_USAGE, parseOrFail, readToolConfig, UsageError, type Io } from './options.js';

export function parsePin(text: string): RelayCpu {
  const m = /^(\d+):(\d+)(?:,(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`--virtio-cpu=${text}: expected RN:Ci[,Cj] (relay:VF->VM CPU[,VM->VF CPU])`);
  const relay = Number(m[1]);
  if (relay >= MAX_RELAYS) throw new UsageError(`--virtio-cpu=${text}: relay ${relay} is outside 0-${MAX_RELAYS - 1}`);
  const vf2vm = Number(m[2]);
  return { relay_number: relay, vf2virtio_cpu: vf2vm, virtio2vf_cpu: m[3] === undefined ? vf2vm : Number(m[3]) };
}

export async function runPinner(argv: string[], io: Io): Promise<number> {
  const a = await parseOrFail(
    endpointOptions(cliParser(argv))
      .scriptName('vio4wd-pinner')
      .usage('$0 [--virtio-cpu=RN:Ci[,Cj] ...]\n\nWithout arguments: each worker CPU and the relays it serves.\n' +
        'With --virtio-cpu: pin relay RN\'s VF->VM direction to CPU Ci and its VM->VF direction to Cj (Ci if omitted),\n' +
        'as VIRTIOFWD_CPU_PINS does. A running vio4wd_core_scheduler may move them again.')
      .option('virtio-cpu', { type: 'string', array: true, default: [] as string[], describe: 'RN:Ci[,Cj] (repeat for several relays)' })
      .option('print-core-map', { type: 'boolean', default: false, describe: 'print the map and exit, pinning nothing (the original\'s flag)' })
      .option('timeout', { type: 'number', default: 2000, describe: 'ms to wait for each reply' })
      .version(false),
    io,
  );
  if (typeof a === 'number') return a;
  let statsEp: string;
  let schedEp: string;
  let pins: RelayCpu[];
  try {
    const c = readToolConfig(a.config);
    statsEp = endpointOf('stats', a, c);
    schedEp = endpointOf('sched', a, c);
    pins = a['print-core-map'] ? [] : a['virtio-cpu'].map(parsePin);
    const twice = pins.find((p, i) => pins.findIndex((q) => q.relay_number === p.relay_number) !== i);
    if (twice) throw new UsageError(`--virtio-cpu: relay ${twice.relay_number} is given twice`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(e.message);
    return EXIT_USAGE;
  }
  const stats = new ReqClient(statsEp, a.timeout);
  const sched = new ReqClient(schedEp, a.timeout);
  try {
    if (pins.length > 0) {
      const r = wire.CoreSchedResponse.decode(await sched.request(wire.CoreSchedRequest.encode({ op: CoreSchedOp.UPDATE, relay_cpu_map: pins })));
      if (r.status !== CoreSchedStatus.OK) {
        io.err(`pinning refused: ${r.error_code_source ?? `error ${r.error_code ?? '?'}`}`);
        return 1;
      }
    }
    for (const v of cpuMap(await readStats(stats))) io.out(`CPU ${v.cpu}: ${formatView(v)}`);
    return 0;
  } catch (e) {
    const hint = pins.length > 0 ? ' (pinning needs VIO4WD_CORE_SCHED_ENABLE=true in the forwarder\'s configuration)' : '';
    io.err(`${e instanceof Error ? e.message : String(e)}${hint}`);
    return 1;
  } finally {
    stats.reset();
    sched.reset();
  }
}
