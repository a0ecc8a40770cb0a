// A flood of port-control and stats requests on a real forwarder: clients in
// processes of their own, each as fast as its replies come back, plugging and
// unplugging relays (more VFs than the 64 relays), asking for stats, sending
// bad paths and oversized frames; a further client asks for stats on a timer
// and times the answers; memory and the relay count are sampled each second.
// Used by `npm run bench:flood` (60 s, figures) and the e2e test (short).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { z } from 'zod';
import { parsePciAddress, PortControlStatus, ReqClient, TimeoutError, wire, type PortControlRequest, type StatsRequest } from '@vio4wd/common';
import { BASE_PAGES, PAGES_PER_RELAY } from '@vio4wd/forwarder';
import { Forwarder, cleanDpdkRuntime, freeHugepages } from './forwarder.js';
import { latencies, percentile } from './stats.js';

const VFS_PER_CLIENT = 9;
const REPLY_TIMEOUT_MS = 10000;
const STATS: StatsRequest = { relay: [], include_inactive: true, delay: 0 };
/** A client's k-th VF: bus fe, two slots a client, eight functions a slot. */
const vfOf = (client: number, k: number) => `0000:fe:${(client * 2 + (k >> 3)).toString(16).padStart(2, '0')}.${k % 8}`;

export const clientTally = z.object({
  sent: z.number(),
  answered: z.number(),
  /** Replies with status OK, by op. */
  ok: z.record(z.string(), z.number()),
  /** Refusals, by reason with digits and paths blurred. */
  refused: z.record(z.string(), z.number()),
  /** Oversized frames: their connection is closed unread (no reply expected). */
  oversized: z.number(),
  /** Requests with no reply within the timeout (oversized ones not counted). */
  unanswered: z.number(),
});
export type ClientTally = z.infer<typeof clientTally>;

/** One flooding client (a process of its own: see main()). */
export async function floodClient(client: number, dir: string, startAt: number, seconds: number): Promise<ClientTally> {
  // Everyone starts at once, once every process is up (starting 8 Node.js processes takes a CPU for seconds).
  await sleep(Math.max(0, startAt - Date.now()));
  const pc = new ReqClient(`ipc://${dir}/port_control`, REPLY_TIMEOUT_MS);
  const stats = new ReqClient(`ipc://${dir}/stats`, REPLY_TIMEOUT_MS);
  const t: ClientTally = { sent: 0, answered: 0, ok: {}, refused: {}, oversized: 0, unanswered: 0 };
  const sock = (k: number) => `${dir}/vhost/c${client}-${k}.sock`;
  const end = startAt + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    const k = n % VFS_PER_CLIENT;
    const kind = n++ % 10;
    t.sent++;
    try {
      if (kind === 9) {
        // Oversized: 1 MiB. The server drops the connection; the client times out on a fresh socket.
        t.oversized++;
        t.sent--;
        await pc.request(Buffer.alloc(1 << 20, 0x41), 300).catch(() => undefined);
        continue;
      }
      if (kind % 3 === 2) {
        const r = wire.StatsResponse.decode(await stats.request(wire.StatsRequest.encode(STATS)));
        t.answered++;
        if (r.relay.length > 64) throw new Error(`stats list ${r.relay.length} relays`);
        t.ok.stats = (t.ok.stats ?? 0) + 1;
        continue;
      }
      const pci = parsePciAddress(vfOf(client, k));
      if (!pci) throw new Error(`bad PCI address ${vfOf(client, k)}`);
      const req: PortControlRequest = kind === 0 || kind === 3
        ? { op: 2, pci_addrs: [pci], vhost_path: sock(k), conditional: false } // ADD_SOCK
        : kind === 4
          ? { op: 3, pci_addrs: [pci], vhost_path: sock(k), conditional: true } // REMOVE_SOCK
          : kind === 6
            ? { op: 2, pci_addrs: [pci], vhost_path: `${dir}/vhost/../../etc/flood-${client}.sock`, conditional: false }
            : { op: 2, pci_addrs: Array.from({ length: 200 }, (_, i) => ({ domain: 0, bus: 0xfc, slot: i >> 3, function: i & 7 })), vhost_path: sock(k), conditional: false }; // kinds 1, 7: a 200-VF bond
      const r = wire.PortControlResponse.decode(await pc.request(wire.PortControlRequest.encode(req)));
      t.answered++;
      const op = req.op === 2 ? 'add_sock' : 'remove_sock';
      if (r.status === PortControlStatus.OK) t.ok[op] = (t.ok[op] ?? 0) + 1;
      else {
        const why = (r.error_code_source ?? '?').replace(/[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]/g, 'PCI').replace(/\/[^\s)]+/g, 'PATH').replace(/\d+/g, 'N');
        t.refused[why] = (t.refused[why] ?? 0) + 1;
      }
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      t.unanswered++;
    }
  }
  pc.reset();
  stats.reset();
  return t;
}

export interface FloodResult {
  clients: ClientTally[];
  /** The extra client's stats round trips (ms), during the flood. */
  statsMs: number[];
  /** Relays listed, per sample. */
  relays: number[];
  /** Resident memory (kB, hugepages included) per second of the supervisor and of the dataplane. */
  rssKb: { supervisor: number[]; dataplane: number[] };
  /** What was left after every relay was removed. */
  leftover: { relays: number; sockets: string[]; stateEntries: number };
  log: string;
  /** Whether the dataplane ran on 2M hugepages. */
  hugepages: boolean;
}

/** Resident memory, hugepages included (VmRSS leaves them out). */
function rssKb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0);
  return kb('VmRSS') + kb('HugetlbPages');
}

/** Runs the whole flood against a forwarder of its own. */
export async function flood(nClients: number, seconds: number): Promise<FloodResult> {
  const dir = Forwarder.scratch('fl');
  const aliases: string[] = [];
  for (let c = 0; c < nClients; c++)
    for (let k = 0; k < VFS_PER_CLIENT; k++) aliases.push(`${vfOf(c, k)}=net_null${c * VFS_PER_CLIENT + k}`);
  // On 2M hugepages where there are enough for 64 relays (as in production: on 4 KiB pages, making a
  // relay's buffers faults in 18 MB page by page, tens of ms the control thread answers nobody), else on
  // 4 KiB pages (as many-relays.test.ts).
  const hugepages = freeHugepages() >= BASE_PAGES + 64 * PAGES_PER_RELAY;
  const fwd = Forwarder.write(dir, {
    vhostClient: false, hugepages,
    extra: [`VIRTIOFWD_DEVICE_ALIASES=(${aliases.join(' ')})`, ...(hugepages ? [] : ['VIO4WD_MEMORY_MB=2560'])],
  });
  try {
    await fwd.start(60000);
    const supervisor = fwd.pid ?? 0;
    const dataplane = fwd.dataplanePid;
    const self = fileURLToPath(import.meta.url);
    const startAt = Date.now() + 5000;
    const procs = Array.from({ length: nClients }, (_, c) =>
      execa(process.execPath, [self, 'client', String(c), dir, String(startAt), String(seconds)], { reject: false, timeout: (seconds + 60) * 1000 }));
    await sleep(Math.max(0, startAt - Date.now()));
    const watcher = new ReqClient(fwd.statsEp, REPLY_TIMEOUT_MS);
    const statsMs: number[] = [];
    const relays: number[] = [];
    const rss = { supervisor: [] as number[], dataplane: [] as number[] };
    const end = startAt + seconds * 1000;
    let nextSample = Date.now();
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      const r = wire.StatsResponse.decode(await watcher.request(wire.StatsRequest.encode(STATS)));
      statsMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (Date.now() >= nextSample) {
        relays.push(r.relay.length);
        rss.supervisor.push(rssKb(supervisor));
        rss.dataplane.push(rssKb(dataplane));
        nextSample += 1000;
      }
      await sleep(20);
    }
    watcher.reset();
    const clients: ClientTally[] = [];
    for (const p of procs) {
      const r = await p;
      if (r.exitCode !== 0) throw new Error(`flood client failed (${String(r.exitCode)}): ${r.stderr}`);
      clients.push(clientTally.parse(JSON.parse(r.stdout)));
    }
    // Unplug everything the flood left plugged, then look for leftovers.
    const pc = new ReqClient(fwd.portControlEp, REPLY_TIMEOUT_MS);
    for (let c = 0; c < nClients; c++) {
      for (let k = 0; k < VFS_PER_CLIENT; k++) {
        const r = wire.PortControlResponse.decode(await pc.request(wire.PortControlRequest.encode(
          { op: 3, pci_addrs: [], vhost_path: `${dir}/vhost/c${c}-${k}.sock`, conditional: true })));
        if (r.status !== PortControlStatus.OK) throw new Error(`remove_sock after the flood: ${r.error_code_source ?? '?'}`);
      }
    }
    pc.reset();
    const left = await fwd.stats();
    const state = z.object({ relays: z.array(z.unknown()) }).parse(JSON.parse(fs.readFileSync(`${dir}/state/relays.json`, 'utf8')));
    return {
      clients, statsMs, relays, rssKb: rss,
      leftover: { relays: left.relay.length, sockets: fs.readdirSync(`${dir}/vhost`), stateEntries: state.relays.length },
      log: fwd.log,
      hugepages,
    };
  } finally {
    await fwd.stop();
    cleanDpdkRuntime(`vio4wd-${path.basename(dir)}`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The figures a run prints. */
export function floodSummary(r: FloodResult, seconds: number): string[] {
  const sum = (f: (t: ClientTally) => number) => r.clients.reduce((n, t) => n + f(t), 0);
  const refused: Record<string, number> = {};
  for (const t of r.clients) for (const [k, v] of Object.entries(t.refused)) refused[k] = (refused[k] ?? 0) + v;
  const ok: Record<string, number> = {};
  for (const t of r.clients) for (const [k, v] of Object.entries(t.ok)) ok[k] = (ok[k] ?? 0) + v;
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  const band = (xs: number[]) => `${mb(xs[Math.min(9, xs.length - 1)] ?? 0)} MB at 10 s, ${mb(xs[xs.length - 1] ?? 0)} MB at the end, max ${mb(Math.max(...xs))} MB`;
  return [
    `flood: ${r.clients.length} clients, ${seconds} s, dataplane on ${r.hugepages ? '2M hugepages' : '4 KiB pages'}: ${sum((t) => t.sent)} requests, ${sum((t) => t.answered)} answered, ${sum((t) => t.unanswered)} unanswered ` +
      `(${(sum((t) => t.answered) / seconds).toFixed(0)}/s); ${sum((t) => t.oversized)} oversized frames dropped unread`,
    `flood: OK replies ${JSON.stringify(ok)}`,
    ...Object.entries(refused).sort((a, b) => b[1] - a[1]).map(([why, n]) => `flood: refused ${n}x: ${why}`),
    `flood: 9th client stats round trip over ${r.statsMs.length} requests: ${latencies(r.statsMs)}`,
    `flood: relays listed: max ${Math.max(...r.relays)} (limit 64)`,
    `flood: resident memory (hugepages included): supervisor ${band(r.rssKb.supervisor)}; dataplane ${band(r.rssKb.dataplane)}`,
    `flood: left after unplugging all: ${r.leftover.relays} relays, ${r.leftover.sockets.length} files in the socket directory, ${r.leftover.stateEntries} state entries`,
    `flood_stats_p99_ms=${percentile(r.statsMs, 99).toFixed(1)}`,
  ];
}

// As a process: a flooding client, or the benchmark (npm run bench:flood).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, a, b, c, d] = process.argv.slice(2);
  if (mode === 'client') {
    process.stdout.write(JSON.stringify(await floodClient(Number(a), b ?? '', Number(c), Number(d))));
  }
}
