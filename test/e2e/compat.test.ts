// Wire compatibility checked by an implementation we did not write: the
// official protobuf runtime (Debian's python3-protobuf, our .proto compiled by
// protoc) and python3-zmq. Python drives every endpoint of the real
// supervisor; then Python plays the daemon and our clients talk to it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { z } from 'zod';
import { CoreSchedStatus, ConfigStatus, statsResponseSchema, wire, zmqRequest } from '@vio4wd/common';
import { Forwarder, PORTCTL_BIN, ROOT, STATS_BIN } from '../lib/forwarder.js';
import { sharedForwarder } from '../lib/fixtures.js';

const ORIGINAL_STATS_BIN = path.join(ROOT, 'packages/stats/dist/virtioforwarder-stats-bin.js');

jest.setTimeout(120000);

// Debian's interpreter: the one python3-protobuf and python3-zmq belong to.
const PYTHON = '/usr/bin/python3';
const PEER = path.join(ROOT, 'test/compat/pb_peer.py');

const peerLine = z.object({
  parsed: z.boolean(),
  initialized: z.boolean().optional(),
  missing: z.array(z.string()).optional(),
  msg: z.record(z.string(), z.unknown()).optional(),
  error: z.string().optional(),
  hex: z.string().optional(),
  ep: z.string().optional(),
});
type PeerLine = z.infer<typeof peerLine>;

interface Step {
  ep: string;
  request?: string;
  reply: string;
  msg?: Record<string, unknown>;
  raw_hex?: string;
}

/** Sends the steps with the official runtime; one decoded reply per step. proto: another .proto to compile. */
async function python(steps: Step[], proto?: string): Promise<PeerLine[]> {
  const r = await execa(PYTHON, [PEER, 'client'], { input: JSON.stringify(steps), reject: false, env: proto ? { VIO4WD_PROTO: proto } : {} });
  if (r.exitCode !== 0) throw new Error(`pb_peer client failed (${r.exitCode}):\n${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => peerLine.parse(JSON.parse(l)));
}

/** A reply the official runtime parsed, with every required field: its fields. */
function wellFormed(line: PeerLine | undefined): Record<string, unknown> {
  expect(line?.parsed).toBe(true);
  expect(line?.missing).toEqual([]);
  expect(line?.initialized).toBe(true);
  return line?.msg ?? {};
}

const pci = (bus: number, fn: number) => ({ domain: 0, bus, slot: 0, function: fn });

describe('the official protobuf runtime drives the supervisor', () => {
  const coreSchedEpIn = (d: string) => `ipc://${d}/core_sched`;
  const configEpIn = (d: string) => `ipc://${d}/config`;
  const fwd = sharedForwarder('pb', (d) => ({
    vhostClient: false,
    extra: [
      'VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0 0000:ff:00.2=net_null1)',
      'VIO4WD_CORE_SCHED_ENABLE=true',
      `VIRTIOFWD_ZMQ_CORE_SCHED_EP=${coreSchedEpIn(d)}`,
      `VIRTIOFWD_ZMQ_CONFIG_EP=${configEpIn(d)}`,
    ],
  }));
  const dir = fwd.dir;
  const coreSchedEp = coreSchedEpIn(dir);
  const configEp = configEpIn(dir);

  test('add, add_sock, query_pci, stats, config, GET_EAL_CORES, UPDATE, remove_sock, remove: well-formed replies', async () => {
    const pc = (msg: Record<string, unknown>): Step => ({ ep: fwd.portControlEp, request: 'PortControlRequest', reply: 'PortControlResponse', msg });
    const st = (msg: Record<string, unknown>): Step => ({ ep: fwd.statsEp, request: 'StatsRequest', reply: 'StatsResponse', msg });
    const cs = (msg: Record<string, unknown>): Step => ({ ep: coreSchedEp, request: 'CoreSchedRequest', reply: 'CoreSchedResponse', msg });
    const sock2 = `${dir}/vm2.sock`;
    const r = await python([
      pc({ op: 'ADD', pci_addrs: [pci(0xff, 1)], virtio_id: 1, conditional: false }),
      pc({ op: 'ADD_SOCK', pci_addrs: [pci(0xff, 2)], vhost_path: sock2, conditional: false }),
      pc({ op: 'QUERY_PCI', vhost_path: sock2 }),
      st({}),
      st({ relay: [1], delay: 200 }),
      st({ include_inactive: false }),
      { ep: configEp, request: 'ConfigRequest', reply: 'ConfigResponse', msg: {} },
      cs({ op: 'GET_EAL_CORES' }),
      cs({ op: 'UPDATE', relay_cpu_map: [{ relay_number: 1, vf2virtio_cpu: 1, virtio2vf_cpu: 1 }] }),
      cs({ op: 'UPDATE', relay_cpu_map: [{ relay_number: 1, vf2virtio_cpu: 0, virtio2vf_cpu: 1 }] }),
      cs({ op: 'UPDATE', relay_cpu_map: [{ relay_number: 9, vf2virtio_cpu: 1, virtio2vf_cpu: 1 }] }),
      pc({ op: 'REMOVE_SOCK', vhost_path: sock2, conditional: false }),
      pc({ op: 'REMOVE', pci_addrs: [pci(0xff, 1)], virtio_id: 1, conditional: false }),
      pc({ op: 'QUERY_PCI', vhost_path: sock2 }),
      st({}),
    ]);
    expect(r).toHaveLength(15);
    const [add, addSock, query, all, one, active, config, cores, update, outside, missing, removeSock, remove, queryGone, none] = r.map(wellFormed);

    expect(add).toEqual({ status: 'OK' });
    expect(addSock).toEqual({ status: 'OK' });
    expect(query).toEqual({ status: 'OK', query_string: '0000:ff:00.2' });

    expect(all?.status).toBe('OK');
    const relays = z.array(z.object({ id: z.number(), active: z.boolean(), vhost: z.object({ vhost_socket_name: z.string() }), vf: z.object({ pci_addr_str: z.string() }) }).loose()).parse(all?.relay);
    expect(relays.map((x) => x.id)).toEqual([0, 1]);
    expect(relays.map((x) => x.vf.pci_addr_str)).toEqual(['0000:ff:00.2', '0000:ff:00.1']);
    expect(relays[0]?.vhost.vhost_socket_name).toBe(sock2);
    expect(relays.every((x) => !x.active)).toBe(true);

    // net_null's receive never runs dry: with no VM the relay drops what it
    // reads, so its receive rate over the 200 ms is well above zero.
    const oneRelay = z.array(z.object({ id: z.number(), vf_to_vm: z.object({ pkt_rate_rx_from_vf: z.number(), pkts_dropped_vm_not_connected: z.string() }).loose() }).loose()).parse(one?.relay);
    expect(oneRelay.map((x) => x.id)).toEqual([1]);
    expect(oneRelay[0]?.vf_to_vm.pkt_rate_rx_from_vf).toBeGreaterThan(1000);
    expect(Number(oneRelay[0]?.vf_to_vm.pkts_dropped_vm_not_connected)).toBeGreaterThan(0);
    // No relay is active; the workers (vio4wd's extension) are always there.
    const noRelay = { status: 'OK', tsc_hz: expect.stringMatching(/^[1-9]\d+$/), worker: [{ cpu: 1, busy_cycles: expect.any(String), idle_cycles: expect.any(String), numa_node: 0 }] };
    expect(active).toEqual(noRelay);

    expect(config).toEqual({ status: 'OK', relay_cpu_map: [
      { relay_number: 0, vf2virtio_cpu: 1, virtio2vf_cpu: 1 },
      { relay_number: 1, vf2virtio_cpu: 1, virtio2vf_cpu: 1 },
    ] });
    expect(cores).toEqual({ status: 'OK', eal_cores: [1] });
    expect(update).toEqual({ status: 'OK' });
    // CPU 0 is the control thread's, not a worker: refused (the original accepted it).
    expect(outside).toMatchObject({ status: 'ERROR', error_code: 22 });
    expect(outside?.error_code_source).toMatch(/VF->VM CPU 0 is not a worker CPU/);
    expect(missing).toMatchObject({ status: 'ERROR', error_code: 2 });
    expect(missing?.error_code_source).toMatch(/relay 9 does not exist/);

    expect(removeSock).toEqual({ status: 'OK' });
    expect(remove).toEqual({ status: 'OK' });
    expect(queryGone?.status).toBe('ERROR');
    expect(none).toEqual(noRelay);
  });

  test('stats extensions (tsc_hz, worker loads, per-direction busy cycles): ours read them, a client of the original .proto skips them', async () => {
    const add = await python([{ ep: fwd.portControlEp, request: 'PortControlRequest', reply: 'PortControlResponse', msg: { op: 'ADD', pci_addrs: [pci(0xff, 1)], virtio_id: 3, conditional: false } }]);
    expect(wellFormed(add[0])).toEqual({ status: 'OK' });
    try {
      const step: Step = { ep: fwd.statsEp, request: 'StatsRequest', reply: 'StatsResponse', msg: { relay: [3], delay: 300 } };
      const [ours] = (await python([step])).map(wellFormed);
      const w = z.object({ cpu: z.number(), busy_cycles: z.string(), idle_cycles: z.string(), numa_node: z.number(), load: z.number() }).parse((ours?.worker as unknown[])[0]);
      // net_null never runs dry: the worker is busy, and nearly all of it is relay 3's VF->VM.
      expect(w.load).toBeGreaterThan(0.2);
      expect(w.load).toBeLessThanOrEqual(1);
      const dirLoad = z.object({ busy_cycles: z.string(), load: z.number() }).loose();
      const r3 = z.object({ vf_to_vm: dirLoad, vm_to_vf: dirLoad }).loose().parse((ours?.relay as unknown[])[0]);
      expect(Number(r3.vf_to_vm.busy_cycles)).toBeGreaterThan(0);
      expect(r3.vf_to_vm.load).toBeGreaterThan(0.5 * w.load);
      expect(r3.vf_to_vm.load + r3.vm_to_vf.load).toBeLessThanOrEqual(w.load + 0.02);

      // The original's .proto: ours without what vio4wd added.
      const original = path.join(dir, 'virtioforwarder.proto');
      const text = fs.readFileSync(path.join(ROOT, 'packages/common/proto/virtioforwarder.proto'), 'utf8')
        .replace(/\nmessage WorkerLoad \{[^}]*\}\n/, '\n')
        .split('\n').filter((l) => !/^\s*(optional uint64 tsc_hz = 3|repeated WorkerLoad worker = 4|optional uint64 busy_cycles = 15|optional float load = 16);/.test(l)).join('\n');
      expect(text).not.toMatch(/WorkerLoad|tsc_hz|= 15;|= 16;/);
      fs.writeFileSync(original, text);
      const [theirs] = (await python([step], original)).map(wellFormed);
      expect(theirs?.worker).toBeUndefined();
      expect(theirs?.tsc_hz).toBeUndefined();
      const old = z.object({ id: z.number(), vf_to_vm: z.object({ pkt_rate_rx_from_vf: z.number() }).loose() }).loose().parse((theirs?.relay as unknown[])[0]);
      expect(old.id).toBe(3);
      expect(old.vf_to_vm.pkt_rate_rx_from_vf).toBeGreaterThan(1000);
      expect(Object.keys(old.vf_to_vm)).not.toContain('busy_cycles');
    } finally {
      await python([{ ep: fwd.portControlEp, request: 'PortControlRequest', reply: 'PortControlResponse', msg: { op: 'REMOVE', pci_addrs: [pci(0xff, 1)], virtio_id: 3, conditional: false } }]);
    }
  });

  test('frames the official runtime calls garbage get each endpoint\'s error reply', async () => {
    const garbage = Buffer.from('\xff\xffnot protobuf', 'latin1').toString('hex');
    const r = await python([
      { ep: fwd.portControlEp, reply: 'PortControlResponse', raw_hex: garbage },
      { ep: fwd.statsEp, reply: 'StatsResponse', raw_hex: garbage },
      { ep: coreSchedEp, reply: 'CoreSchedResponse', raw_hex: garbage },
      { ep: configEp, reply: 'ConfigResponse', raw_hex: garbage },
      // A PortControlRequest without its required op; a CoreSchedRequest whose op is 7.
      { ep: fwd.portControlEp, reply: 'PortControlResponse', raw_hex: '1807' },
      { ep: coreSchedEp, reply: 'CoreSchedResponse', raw_hex: '0807' },
    ]);
    const [pc, st, cs, cf, noOp, badOp] = r.map(wellFormed);
    expect(pc).toMatchObject({ status: 'ERROR', error_code: 74 });
    expect(st).toEqual({ status: 'EBADR' });
    expect(cs).toMatchObject({ status: 'ERROR', error_code: 74 });
    expect(cf).toEqual({ status: 'EBADR' });
    expect(noOp).toMatchObject({ status: 'ERROR', error_code: 74 });
    expect(noOp?.error_code_source).toMatch(/op/);
    expect(badOp).toMatchObject({ status: 'ERROR', error_code: 74 });
  });
});

describe('our clients against a daemon played by the official runtime', () => {
  let dir: string;
  let peer: ReturnType<typeof execa> | undefined;
  const seen: PeerLine[] = [];
  // What the official runtime prints for each canned reply.
  const readyLine = z.object({
    ready: z.literal(true),
    printed: z.record(z.string(), z.object({ text: z.string(), flat: z.array(z.string()).optional(), flat_z: z.array(z.string()).optional() })),
  });
  let printed: z.infer<typeof readyLine>['printed'] = {};

  const eps = () => ({
    pc: `ipc://${dir}/port_control`,
    st: `ipc://${dir}/stats`,
    cs: `ipc://${dir}/core_sched`,
    cf: `ipc://${dir}/config`,
  });

  const dirStats = (prefix: string, a: string, b: string) => ({
    active: true,
    internal_state: 'connected',
    [`pkts_rx_from_${a}`]: '5000000000',
    [`bytes_rx_from_${a}`]: '320000000000',
    [`pkts_tx_to_${b}`]: '4999999990',
    [`bytes_tx_to_${b}`]: '319999999360',
    [`pkts_dropped_${b}_queue_full`]: '7',
    [`bytes_dropped_${b}_queue_full`]: '448',
    [`pkts_dropped_${b}_not_connected`]: '3',
    [`bytes_dropped_${b}_not_connected`]: '192',
    [`pkt_rate_rx_from_${a}`]: 1500000.5,
    [`byte_rate_rx_from_${a}`]: 96000032,
    [`pkt_rate_tx_to_${b}`]: 1499999.5,
    [`byte_rate_tx_to_${b}`]: 95999968,
    _: prefix,
  });
  const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== '_'));

  beforeAll(async () => {
    dir = Forwarder.scratch('pbd');
    const e = eps();
    const spec = {
      [e.pc]: { request: 'PortControlRequest', reply: 'PortControlResponse', msg: { status: 'OK', query_string: '0000:05:08.1' } },
      [e.st]: {
        request: 'StatsRequest',
        reply: 'StatsResponse',
        msg: {
          status: 'OK',
          relay: [{
            id: 4,
            active: true,
            ident: 'net_0000:05:08.1',
            cpu: { vf_to_vm: 2, vm_to_vf: 3 },
            vhost: { vhost_socket_name: '/tmp/virtio-forwarder4.sock' },
            vf: { pci_addr_str: '0000:05:08.1' },
            vf_to_vm: strip(dirStats('f', 'vf', 'vm')),
            vm_to_vf: strip(dirStats('m', 'vm', 'vf')),
            socket_id: 1,
          }, {
            // No CPU, no VF; a socket name to escape; zeros, the largest counter, small and huge rates.
            id: 7,
            active: false,
            vhost: { vhost_socket_name: '/tmp/vf "7"\\\u00e9\u0001\n.sock' },
            vf_to_vm: { ...strip(dirStats('f', 'vf', 'vm')), active: false, internal_state: 'not connected', pkts_rx_from_vf: '18446744073709551615',
              pkts_tx_to_vm: '0', pkt_rate_rx_from_vf: 0.1, byte_rate_rx_from_vf: 3.4e-5, pkt_rate_tx_to_vm: 1e17, byte_rate_tx_to_vm: 0 },
            vm_to_vf: { ...strip(dirStats('m', 'vm', 'vf')), pkts_dropped_vf_queue_full: '0', pkt_rate_rx_from_vm: 123456.789 },
            socket_id: 0,
          }],
          tsc_hz: '2100000000',
          worker: [{ cpu: 1, busy_cycles: '123', idle_cycles: '4567', numa_node: 0, load: 0.25 }, { cpu: 2, busy_cycles: '0', idle_cycles: '99' }],
        },
      },
      [e.cs]: { request: 'CoreSchedRequest', reply: 'CoreSchedResponse', msg: { status: 'OK', eal_cores: [2, 3, 5] } },
      [e.cf]: { request: 'ConfigRequest', reply: 'ConfigResponse', msg: { status: 'OK', relay_cpu_map: [{ relay_number: 4, vf2virtio_cpu: 2, virtio2vf_cpu: 3 }] } },
    };
    const p = execa(PYTHON, [PEER, 'server', JSON.stringify(spec)], { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', buffer: false, reject: false });
    peer = p;
    let buf = '';
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const obj: unknown = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        const r = readyLine.safeParse(obj);
        if (r.success) {
          printed = r.data.printed;
          ready();
        }
        else seen.push(peerLine.parse(obj));
      }
    });
    await Promise.race([isReady, p.then((r) => Promise.reject(new Error(`pb_peer server exited: ${String(r.exitCode)}`)))]);
  });

  afterAll(async () => {
    peer?.stdin?.end();
    await peer;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a client; returns its result and the one request the peer saw meanwhile, as the official runtime decoded it. */
  async function observed<T>(run: () => Promise<T>): Promise<{ result: T; got: Record<string, unknown>; hex: string }> {
    const before = seen.length;
    const result = await run();
    // The peer prints a request before it replies; its line may still be in the pipe.
    for (let i = 0; i < 100 && seen.length === before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen.length).toBe(before + 1);
    return { result, got: wellFormed(seen[before]), hex: seen[before]?.hex ?? '' };
  }
  const portctl = (...args: string[]) => observed(() => execa('node', [PORTCTL_BIN, ...args, '--zmq_ep', eps().pc], { reject: false }));

  test('vio4wd-portctl: the requests parse in the official runtime and its replies decode', async () => {
    const { result: q, got: query } = await portctl('query_pci', '--vhost-path=/tmp/virtio-forwarder4.sock');
    expect(q.stderr).toBe('');
    expect(q.exitCode).toBe(0);
    expect(q.stdout.trim()).toBe('0000:05:08.1');
    expect(query).toEqual({ op: 'QUERY_PCI', vhost_path: '/tmp/virtio-forwarder4.sock', conditional: false });

    const { result: add, got: addReq } = await portctl('add', '--virtio-id=3', '--pci-addr=0000:05:08.1');
    expect(add.exitCode).toBe(0);
    expect(addReq).toEqual({ op: 'ADD', virtio_id: 3, pci_addrs: [{ domain: 0, bus: 5, slot: 8, function: 1 }], conditional: false });

    const { result: bond, got: bondReq } = await portctl('add', '--virtio-id=6', '--pci-addr=0000:05:08.2', '--pci-addr=0000:05:08.3',
      '--name=bond6', '--mode=4', '--conditional');
    expect(bond.exitCode).toBe(0);
    expect(bondReq).toEqual({
      op: 'ADD', virtio_id: 6, name: 'bond6', mode: 4, conditional: true,
      pci_addrs: [{ domain: 0, bus: 5, slot: 8, function: 2 }, { domain: 0, bus: 5, slot: 8, function: 3 }],
    });

    const { result: rs, got: rsReq } = await portctl('remove_sock', '--pci-addr=0000:05:08.1');
    expect(rs.exitCode).toBe(0);
    expect(rsReq).toEqual({ op: 'REMOVE_SOCK', pci_addrs: [{ domain: 0, bus: 5, slot: 8, function: 1 }], conditional: false });
  });

  test('vio4wd-stats: a packed relay list the official runtime reads, and 64-bit counters and rates decoded exactly', async () => {
    const { result: s, got, hex } = await observed(() =>
      execa('node', [STATS_BIN, '--json', '--relay=4', '--relay=7', '--delay=0', '--zmq_ep', eps().st], { reject: false }));
    expect(s.exitCode).toBe(0);
    expect(got).toEqual({ relay: [4, 7], include_inactive: true, delay: 0 });
    // Field 1, length-delimited: the relay list went out packed, as the .proto says.
    expect(hex.startsWith('0a020407')).toBe(true);
    const rep = statsResponseSchema.parse(JSON.parse(s.stdout));
    expect(rep.status).toBe(0);
    const r = rep.relay[0];
    expect(r).toMatchObject({ id: 4, active: true, ident: 'net_0000:05:08.1', cpu: { vf_to_vm: 2, vm_to_vf: 3 }, socket_id: 1 });
    expect(r?.vf_to_vm).toMatchObject({ pkts_rx_from_vf: 5000000000, bytes_rx_from_vf: 320000000000, pkts_tx_to_vm: 4999999990,
      pkts_dropped_vm_queue_full: 7, bytes_dropped_vm_not_connected: 192, pkt_rate_rx_from_vf: 1500000.5 });
    expect(r?.vm_to_vf).toMatchObject({ pkts_rx_from_vm: 5000000000, bytes_tx_to_vf: 319999999360, pkts_dropped_vf_not_connected: 3,
      byte_rate_tx_to_vf: 95999968 });
  });

  test('virtioforwarder_stats.py: the original\'s request and defaults, its flat lines and the text format as the official runtime prints them', async () => {
    const run = (...args: string[]) => observed(() => execa('node', [ORIGINAL_STATS_BIN, '--stats-ep', eps().st, ...args], { reject: false, stripFinalNewline: false }));
    const flat = await run();
    expect([flat.result.exitCode, flat.result.stderr]).toEqual([0, '']);
    // The original asks for active relays only, rates over 200 ms.
    expect(flat.got).toEqual({ include_inactive: false, delay: 200 });
    const want = printed[eps().st];
    expect(flat.result.stdout).toBe(`${(want?.flat ?? ['(none)']).join('\n')}\n`);
    // Spot checks of the oracle itself: Python's values, and the CPU in the counters' path.
    expect(want?.flat).toEqual(expect.arrayContaining([
      'relay_4.active=True',
      'relay_4.vf_to_vm.cpu_2.pkt_rate_rx_from_vf=1500000.5',
      'relay_4.vm_to_vf.cpu_3.byte_rate_tx_to_vf=95999968.0',
      'relay_7.vf_to_vm.pkts_rx_from_vf=18446744073709551615',
      'relay_7.vf_to_vm.pkt_rate_rx_from_vf=0.10000000149011612',
      'relay_7.vf_to_vm.pkt_rate_tx_to_vm=9.999999843067494e+16',
      'relay_7.vf_to_vm.pkts_tx_to_vm=0',
    ]));
    // Relay 4: active, 2 CPUs, VF, socket; relay 7: active, socket; 14 lines per direction.
    expect(want?.flat?.length).toBe(5 + 2 + 4 * 14);

    const z0 = await run('-z', '--include-inactive', '--delay=0');
    expect(z0.got).toEqual({ include_inactive: true, delay: 0 });
    expect(z0.result.stdout).toBe(`${(want?.flat_z ?? ['(none)']).join('\n')}\n`);
    expect(want?.flat_z).toContain('relay_7.vf_to_vm.byte_rate_tx_to_vm=0.0');
    expect(want?.flat_z).not.toContain('relay_7.vf_to_vm.pkts_tx_to_vm=0');

    const text = await run('--output-format', 'protobuf');
    expect(text.result.exitCode).toBe(0);
    expect(text.result.stdout).toBe(`${want?.text ?? '(none)'}\n`);
    expect(want?.text).toContain('vhost_socket_name: "/tmp/vf \\"7\\"\\\\\\303\\251\\001\\n.sock"');
    expect(want?.text).toContain('pkt_rate_tx_to_vm: 9.999999843067494e+16');

    // Bad usage is 2 (as argparse), no answer is 1.
    const bad = await execa('node', [ORIGINAL_STATS_BIN, '--output-format', 'xml'], { reject: false });
    expect(bad.exitCode).toBe(2);
    const none = await execa('node', [ORIGINAL_STATS_BIN, '--stats-ep', `ipc://${dir}/nobody`, '--delay=0'], { reject: false });
    expect([none.exitCode, none.stderr]).toEqual([1, `cannot reach ipc://${dir}/nobody: there is no socket ${dir}/nobody (virtio-forwarder is not running, or serves another endpoint)`]);
  });

  test('our core-scheduling and config codecs read the replies the official runtime encodes', async () => {
    const get = await observed(() => zmqRequest(eps().cs, wire.CoreSchedRequest.encode({ op: 1, relay_cpu_map: [] }), 5000));
    expect(get.got).toEqual({ op: 'GET_EAL_CORES' });
    expect(wire.CoreSchedResponse.decode(get.result)).toEqual({ status: CoreSchedStatus.OK, eal_cores: [2, 3, 5] });
    const up = wire.CoreSchedRequest.encode({ op: 0, relay_cpu_map: [{ relay_number: 4, vf2virtio_cpu: 5, virtio2vf_cpu: 2 }] });
    const update = await observed(() => zmqRequest(eps().cs, up, 5000));
    expect(update.got).toEqual({ op: 'UPDATE', relay_cpu_map: [{ relay_number: 4, vf2virtio_cpu: 5, virtio2vf_cpu: 2 }] });
    const config = await observed(() => zmqRequest(eps().cf, wire.ConfigRequest.encode({}), 5000));
    expect(config.got).toEqual({});
    expect(wire.ConfigResponse.decode(config.result)).toEqual({ status: ConfigStatus.OK, relay_cpu_map: [{ relay_number: 4, vf2virtio_cpu: 2, virtio2vf_cpu: 3 }] });
  });
});
