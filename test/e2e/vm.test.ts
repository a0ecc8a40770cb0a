// Real VMs: QEMU guests (TCG) with Linux's virtio-net driver on a relay,
// the VF af_packet on a veth pair whose other end is a peer in a network
// namespace. Ping and a TCP stream with its content checked on both ends,
// VirtIO 1.0 and legacy, vhost-user server and client mode.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { Forwarder } from '../lib/forwarder.js';
import { Guest, guestImage, qmp } from '../lib/guest.js';
import { cleanupsAfterEach, startedForwarder } from '../lib/fixtures.js';

jest.setTimeout(300000);

const cleanups = cleanupsAfterEach();

beforeAll(async () => {
  await guestImage();
}, 600000);

let seq = 0;

interface Setup {
  fwd: Forwarder;
  /** The guest (after a migration: its destination QEMU). */
  guest: Guest;
  ns: string;
  peer: string;
  guestIp: string;
  dir: string;
}

/** A fresh netns for the peer (removed afterwards). */
async function peerNamespace(ns: string): Promise<void> {
  await execa('ip', ['netns', 'add', ns]);
  cleanups.push(() => execa('ip', ['netns', 'del', ns], { reject: false }));
}

/**
 * A VF stand-in: a veth pair whose root end `vf` af_packet opens, the other
 * end `peerEnd` in ns (left down). Unlike a tap, the kernel side outlives a
 * dataplane restart, as a real VF does.
 */
async function vethVf(vf: string, ns: string, peerEnd: string, mtu = 1500): Promise<void> {
  await execa('ip', ['link', 'add', vf, 'type', 'veth', 'peer', 'name', peerEnd, 'netns', ns]);
  cleanups.push(() => execa('ip', ['link', 'del', vf], { reject: false }));
  await execa('ip', ['link', 'set', vf, 'mtu', String(mtu), 'up']);
  await execa('ip', ['-n', ns, 'link', 'set', peerEnd, 'mtu', String(mtu)]);
}

/** The peer's address on dev in ns. The peer computes its TCP checksums itself (veth would leave them to an offload af_packet does not finish). */
async function peerAddress(ns: string, dev: string, addr: string): Promise<void> {
  await execa('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
  await execa('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  await execa('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off']);
}

/** virtio-forwarder in dir, its VFs given as VIRTIOFWD_DEVICE_ALIASES entries; stopped and cleaned afterwards. */
function startForwarder(dir: string, aliases: string[], opts: { vhostClient: boolean; extra?: string[] }): Promise<Forwarder> {
  return startedForwarder(cleanups, dir, { vhostClient: opts.vhostClient, extra: [`VIRTIOFWD_DEVICE_ALIASES=(${aliases.join(' ')})`, ...(opts.extra ?? [])] });
}

/** A file of random bytes at file: "size sha256", as the guest reports what it received. */
function randomFile(file: string, bytes: number): string {
  const data = crypto.randomBytes(bytes);
  fs.writeFileSync(file, data);
  return `${bytes} ${crypto.createHash('sha256').update(data).digest('hex')}`;
}

/** In the guest, busybox nc on port 5001 + i runs a program on the connection (-e) that writes what arrives to /tmp/rxI until the peer closes. */
async function guestListen(g: Guest, i: number): Promise<void> {
  await g.ok(`rm -f /tmp/rx${i}; printf '#!/bin/sh\\nexec cat > /tmp/rx${i}\\n' > /tmp/recv${i}; chmod +x /tmp/recv${i}; ` +
    `nc -l -p ${5001 + i} -e /tmp/recv${i} < /dev/null & echo listening`);
}

/** What the guest received on port 5001 + i: "size sha256". */
async function guestReceived(g: Guest, i: number): Promise<string> {
  const [size, hash] = (await g.ok(`wc -c < /tmp/rx${i}; sha256sum /tmp/rx${i}`)).trim().split(/\s+/);
  return `${size ?? ''} ${hash ?? ''}`;
}

/** A forwarder with one VF (af_packet on a veth pair; the other end, in a fresh netns, is the peer) and a guest on the relay. */
async function setup(mode: { relayClient: boolean; legacy: boolean; reboot?: boolean; queues?: number; mtu?: number }): Promise<Setup> {
  const n = ++seq;
  const tag = `v4v${process.pid % 10000}${n}`;
  const subnet = `10.252.${(process.pid + n) % 250}`;
  const dir = Forwarder.scratch('vm');
  const vhost = path.join(dir, 'vm.sock');
  const ns = tag;
  const mtu = mode.mtu ?? 1500;
  await peerNamespace(ns);
  await vethVf(tag, ns, 'peer0', mtu);
  await peerAddress(ns, 'peer0', `${subnet}.1/24`);
  // Jumbo: af_packet's frames (framesz) must fit one VF buffer; with VIRTIOFWD_JUMBO the relay gives af_packet 9 KiB buffers.
  const vf = mtu > 1500 ? `net_af_packet0,iface=${tag},framesz=9216,blocksz=36864` : `net_af_packet0,iface=${tag}`;
  const fwd = await startForwarder(dir, [`0000:ff:00.3=${vf}`],
    { vhostClient: mode.relayClient, extra: mtu > 1500 ? ['VIRTIOFWD_JUMBO=true', 'VIRTIOFWD_MRGBUF=true'] : [] });
  let guest: Guest | undefined;
  const bootGuest = () => Guest.boot({ socket: vhost, qemuServer: mode.relayClient, ip: `${subnet}.2/24`, legacy: mode.legacy, reboot: mode.reboot, queues: mode.queues, mtu: mode.mtu });
  if (mode.relayClient) {
    // QEMU owns the socket: it comes first, the relay connects to it.
    const booting = bootGuest();
    for (let i = 0; i < 200 && !fs.existsSync(vhost); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await fwd.portctl('add_sock', `--vhost-path=${vhost}`, '--pci-addr=0000:ff:00.3')).exitCode).toBe(0);
    guest = await booting;
  } else {
    expect((await fwd.portctl('add_sock', `--vhost-path=${vhost}`, '--pci-addr=0000:ff:00.3')).exitCode).toBe(0);
    guest = await bootGuest();
  }
  const g = guest;
  cleanups.push(() => g.kill());
  await fwd.waitConnected(0);
  return { fwd, guest: g, ns, peer: `${subnet}.1`, guestIp: `${subnet}.2`, dir };
}

/** Pings the peer from the guest: the replies counted. */
async function guestPing(s: Setup, count: number): Promise<number> {
  const r = await s.guest.run(`ping -c ${count} -W 2 ${s.peer}`, 120000);
  return (r.out.match(new RegExp(`bytes from ${s.peer.replace(/\./g, '\\.')}`, 'g')) ?? []).length;
}

/** Sends n files of random bytes from the peer to the guest over n TCP connections at once (ports 5001...); each file's size and SHA-256 on both ends. */
async function tcpStreams(s: Setup, n: number, bytes: number): Promise<{ sent: string[]; received: string[]; ms: number }> {
  const files = Array.from({ length: n }, (_, i) => path.join(s.dir, `stream${i}.bin`));
  const sent = files.map((f) => randomFile(f, bytes));
  for (let i = 0; i < n; i++) await guestListen(s.guest, i);
  const t0 = Date.now();
  // The peer, in its namespace: node connects to each port and writes its file (retrying until the guest listens).
  const client = `const net=require('net'),fs=require('fs');const files=${JSON.stringify(files)};let open=files.length;` +
    `files.forEach((f,i)=>{let n=0;(function go(){const c=net.connect(${5001}+i,'${s.guestIp}',()=>fs.createReadStream(f).pipe(c));` +
    `c.on('error',e=>{if(++n<50)setTimeout(go,200);else{console.error(e.message);process.exit(1)}});c.on('close',()=>{if(--open===0)process.exit(0)})})()})`;
  await execa('ip', ['netns', 'exec', s.ns, process.execPath, '-e', client], { timeout: 240000 });
  await s.guest.ok('wait', 240000);
  const ms = Date.now() - t0;
  const received: string[] = [];
  for (let i = 0; i < n; i++) received.push(await guestReceived(s.guest, i));
  return { sent, received, ms };
}

/** Sends a file of random bytes from the peer to the guest over TCP; size and SHA-256 on both ends. */
async function tcpStream(s: Setup, bytes: number): Promise<{ sent: string; received: string; ms: number }> {
  const r = await tcpStreams(s, 1, bytes);
  return { sent: r.sent[0] ?? '', received: r.received[0] ?? '', ms: r.ms };
}

/** The guest's per-queue packet counters (virtio_net's ethtool -S): [rx per queue, tx per queue]. */
async function queueCounters(s: Setup): Promise<{ rx: number[]; tx: number[] }> {
  const out = await s.guest.ok('ethtool -S eth0');
  const get = (dir: string) => [...out.matchAll(new RegExp(`${dir}_queue_(\\d+)_packets: (\\d+)`, 'g'))]
    .sort((a, b) => Number(a[1]) - Number(b[1])).map((m) => Number(m[2]));
  return { rx: get('rx'), tx: get('tx') };
}

/** Both paused guests' memories (pmemsave through QMP) compared: the 4 KiB pages that differ. */
async function compareMemories(qmpA: string, qmpB: string, dir: string, mb: number): Promise<number[]> {
  const files = [path.join(dir, 'a.mem'), path.join(dir, 'b.mem')];
  await qmp(qmpA, 'pmemsave', { val: 0, size: mb << 20, filename: files[0] }, 120000);
  await qmp(qmpB, 'pmemsave', { val: 0, size: mb << 20, filename: files[1] }, 120000);
  const [a, b] = files.map((f) => fs.readFileSync(f));
  for (const f of files) fs.rmSync(f);
  if (!a || !b || a.length !== mb << 20 || b.length !== a.length) throw new Error('pmemsave wrote no whole memory');
  const differ: number[] = [];
  for (let p = 0; p < a.length / 4096; p++) {
    if (a.compare(b, p * 4096, p * 4096 + 4096, p * 4096, p * 4096 + 4096) !== 0) differ.push(p);
  }
  return differ;
}

/** Waits until the guest's ping of the peer is answered (one a second, at most 100). */
async function untilPingable(g: Guest, peer: string): Promise<void> {
  await g.ok(`n=0; until ping -c 1 -W 1 ${peer} >/dev/null; do n=$((n+1)); [ $n -lt 100 ] || exit 1; done`, 180000);
}

/** Starts pinging the peer from the guest every 10 ms, in the background. */
async function startPing(s: Setup, count: number): Promise<void> {
  await s.guest.ok(`ping -i 0.01 -c ${count} -W 1 ${s.peer} > /tmp/ping.log 2>&1 & echo started`);
}

/** The background ping's outcome: requests, replies, and the longest run of lost ones (ms at 10 ms a request). */
async function pingResult(s: Setup, timeoutMs: number): Promise<{ sent: number; received: number; lost: number; longestGapMs: number; outagesMs: number[] }> {
  await s.guest.ok('wait', timeoutMs);
  const log = await s.guest.ok('cat /tmp/ping.log');
  const seqs = [...log.matchAll(/seq=(\d+) /g)].map((m) => Number(m[1]));
  const sum = /(\d+) packets transmitted, (\d+) packets received/.exec(log);
  if (!sum) throw new Error(`no ping summary:\n${log.slice(-2000)}`);
  const sent = Number(sum[1]);
  // Runs of lost requests: each an outage, as long as the requests it lost.
  const gaps: number[] = [];
  let prev = -1;
  for (const q of [...new Set(seqs)].sort((a, b) => a - b)) {
    if (q - prev - 1 > 0) gaps.push(q - prev - 1);
    prev = q;
  }
  if (sent - 1 - prev > 0) gaps.push(sent - 1 - prev);
  const outagesMs = gaps.filter((g) => g >= 10).map((g) => g * 10);
  return { sent, received: Number(sum[2]), lost: sent - Number(sum[2]), longestGapMs: Math.max(0, ...gaps) * 10, outagesMs };
}

describe('a QEMU guest with Linux virtio-net on a relay', () => {
  test('client mode (QEMU server=on): kill -9 of the dataplane, then a restart of the whole forwarder, under a 10 ms ping', async () => {
    const s = await setup({ relayClient: true, legacy: false });
    await startPing(s, 3000);
    await new Promise((r) => setTimeout(r, 5000));
    process.kill(s.fwd.dataplanePid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 8000));
    expect(await s.fwd.stop()).toBe(0);
    await s.fwd.start();
    await s.fwd.waitConnected(0);
    const r = await pingResult(s, 120000);
    console.log(`client mode under a 10 ms ping: ${r.sent} sent, ${r.received} received, ${r.lost} lost; outages of 100 ms or more: ` +
      `${r.outagesMs.join(' ms, ')} ms (a kill -9 of the dataplane, then a restart of virtio-forwarder)`);
    expect(r.sent).toBe(3000);
    // Two interruptions, each over within seconds (generous bounds: TCG on a shared host; a recovery may let a few
    // pings through before it is complete, so the outages are not counted), and the last pings answered.
    expect(r.longestGapMs).toBeLessThan(5000);
    expect(r.lost * 10).toBeLessThan(8000);
    expect(await guestPing(s, 5)).toBeGreaterThanOrEqual(5);
  });

  test('jumbo: MTU 9000 in the guest and on the peer, 8000-byte pings and a 4 MiB TCP stream through the relay (VIRTIOFWD_JUMBO, VIRTIOFWD_MRGBUF)', async () => {
    const s = await setup({ relayClient: false, legacy: false, mtu: 9000 });
    expect((await s.guest.ok('cat /sys/class/net/eth0/mtu')).trim()).toBe('9000');
    const r = await s.guest.run(`ping -c 10 -s 8000 -W 2 ${s.peer}`, 120000);
    const replies = (r.out.match(/8008 bytes from/g) ?? []).length;
    expect(replies).toBeGreaterThanOrEqual(9);
    const stream = await tcpStream(s, 4 << 20);
    expect(stream.received).toBe(stream.sent);
    // Frames above 1518 bytes crossed: the relay's byte counters say more than 1518 bytes a packet on average at least one way.
    const relay = (await s.fwd.stats()).relay[0];
    const avg = (b: number, p: number) => (p > 0 ? b / p : 0);
    const big = Math.max(avg(relay?.vf_to_vm.bytes_tx_to_vm ?? 0, relay?.vf_to_vm.pkts_tx_to_vm ?? 0), avg(relay?.vm_to_vf.bytes_tx_to_vf ?? 0, relay?.vm_to_vf.pkts_tx_to_vf ?? 0));
    console.log(`jumbo: ${replies}/10 8000-byte pings, 4 MiB in ${stream.ms} ms intact; largest average frame one way ${big.toFixed(0)} bytes`);
    expect(big).toBeGreaterThan(1518);
  });

  test('multiqueue: 4 queue pairs (ethtool -L eth0 combined 4), 6 TCP streams at once: several queue pairs carry traffic each way, every stream intact', async () => {
    const s = await setup({ relayClient: false, legacy: false, queues: 4 });
    await s.guest.ok('ethtool -L eth0 combined 4');
    expect(await s.guest.ok('ethtool -l eth0')).toMatch(/Current hardware settings:[\s\S]*Combined:\s+4/);
    const before = await queueCounters(s);
    const r = await tcpStreams(s, 6, 1 << 20);
    expect(r.received).toEqual(r.sent);
    const after = await queueCounters(s);
    // A queue carries a stream's worth: the guest's transmit side is its ACKs
    // (one vCPU: queues picked by flow hash), about 40 for a 1 MiB stream
    // with GRO; 50 once left one of four queues at 43 (CI, 173/43/37/2).
    const used = (k: 'rx' | 'tx') => after[k].map((v, i) => v - (before[k][i] ?? 0)).filter((d) => d >= 20).length;
    console.log(`multiqueue: 6 x 1 MiB in ${r.ms} ms; guest rx per queue ${after.rx.map((v, i) => v - (before.rx[i] ?? 0)).join('/')}, ` +
      `tx per queue ${after.tx.map((v, i) => v - (before.tx[i] ?? 0)).join('/')}`);
    expect(after.rx.length).toBe(4);
    expect(used('rx')).toBeGreaterThanOrEqual(2);
    expect(used('tx')).toBeGreaterThanOrEqual(2);
  });

  test('server mode: the guest reboots, and QEMU is killed and started again; traffic resumes each time', async () => {
    const s = await setup({ relayClient: false, legacy: false, reboot: true });
    expect(await guestPing(s, 3)).toBeGreaterThanOrEqual(2);
    // A reboot: the driver resets the device; the relay sees the rings go and come back.
    let t0 = Date.now();
    const from = s.guest.console.length;
    await s.guest.run('reboot -f', 5000).catch(() => undefined);
    await s.guest.waitFor(/V4-READY/, 120000, from);
    await untilPingable(s.guest, s.peer);
    const rebootMs = Date.now() - t0;
    // QEMU dies (kill -9) and a new one connects to the same socket.
    await s.guest.kill();
    t0 = Date.now();
    const again = await Guest.boot({ socket: path.join(s.dir, 'vm.sock'), qemuServer: false, ip: `${s.guestIp}/24` });
    cleanups.push(() => again.kill());
    await untilPingable(again, s.peer);
    const restartMs = Date.now() - t0;
    const pings = await again.run(`ping -c 5 -W 2 ${s.peer}`, 60000);
    expect((pings.out.match(/bytes from/g) ?? []).length).toBeGreaterThanOrEqual(5);
    expect((await s.fwd.stats()).relay[0]?.vf_to_vm.internal_state).toBe('connected');
    console.log(`server mode: traffic again ${rebootMs} ms after the guest's reboot -f, ${restartMs} ms after a new QEMU started (boot included)`);
  });

  for (const mode of [
    { relayClient: false, legacy: false, name: 'VirtIO 1.0, relay in server mode (QEMU reconnects)' },
    { relayClient: true, legacy: true, name: 'legacy virtio, relay in client mode (QEMU server=on)' },
  ]) {
    test(`${mode.name}: ping and a 4 MB TCP stream to a peer in a netns, content intact`, async () => {
      const t0 = Date.now();
      const s = await setup(mode);
      const bootMs = Date.now() - t0;
      // The guest's driver: the mode it negotiated.
      const features = (await s.guest.ok('cat /sys/class/net/eth0/device/features')).trim();
      // Bit 32: VIRTIO_F_VERSION_1.
      expect(features[32]).toBe(mode.legacy ? '0' : '1');
      const replies = await guestPing(s, 10);
      // The first request may go before ARP resolves.
      expect(replies).toBeGreaterThanOrEqual(9);
      const stream = await tcpStream(s, 4 << 20);
      expect(stream.received).toBe(stream.sent);
      const relay = (await s.fwd.stats()).relay[0];
      expect(relay?.vf_to_vm.pkts_tx_to_vm ?? 0).toBeGreaterThan(2000);
      expect(relay?.vm_to_vf.pkts_tx_to_vf ?? 0).toBeGreaterThan(replies);
      console.log(`${mode.name}: up in ${bootMs} ms, ${replies}/10 pings, 4 MiB in ${stream.ms} ms, sha256 ${stream.sent.slice(0, 16)}… on both ends`);
    });
  }

  // QEMU 7.2 under TCG now and then loses some of the guest CPU's own writes in a migration (about one in four
  // here, single- or multi-threaded TCG alike): after "completed", the paused source and destination differ in a
  // few pages of kernel data (jiffies, a stack), and the destination's kernel then hangs or oopses. So the
  // destination starts paused, both memories are compared page by page, and only an attempt whose memories are
  // identical is judged (at most 4 attempts; the test fails if none is). Identical memories are also the strictest
  // check of the relay's dirty logging: every page it wrote into the guest during the migration reached the
  // destination. A paused guest's clocks stop too: its ping sees the network's outage, not the comparison.
  test('live migration: the guest moves from one relay to another under a 10 ms ping and a TCP stream into it; memories identical, content intact, the old relay goes idle', async () => {
    const n = ++seq;
    const tag = `v4m${process.pid % 10000}${n}`;
    const subnet = `10.253.${(process.pid + n) % 250}`;
    const dir = Forwarder.scratch('mig');
    // Both relays' VFs on one L2 segment with the peer: a bridge in the netns, a veth pair per VF.
    const ns = tag;
    await peerNamespace(ns);
    await execa('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
    await peerAddress(ns, 'br0', `${subnet}.1/24`);
    const vfs = ['a', 'b'].map((x) => `${tag}${x}`);
    for (const [i, v] of vfs.entries()) {
      await vethVf(v, ns, `p${i}`);
      await execa('ip', ['-n', ns, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
    }
    const fwd = await startForwarder(dir, [`0000:ff:00.3=net_af_packet0,iface=${vfs[0]}`, `0000:ff:00.4=net_af_packet1,iface=${vfs[1]}`], { vhostClient: false });
    const sock = (x: string) => path.join(dir, `vm-${x}.sock`);
    expect((await fwd.portctl('add_sock', `--vhost-path=${sock('a')}`, '--pci-addr=0000:ff:00.3')).exitCode).toBe(0);
    expect((await fwd.portctl('add_sock', `--vhost-path=${sock('b')}`, '--pci-addr=0000:ff:00.4')).exitCode).toBe(0);
    const ip = `${subnet}.2/24`;
    const peer = `${subnet}.1`;
    const guestIp = `${subnet}.2`;
    const file = path.join(dir, 'stream.bin');
    const sent = randomFile(file, 32 << 20);

    for (let attempt = 1; ; attempt++) {
      const qmpA = path.join(dir, `qmp-a${attempt}`);
      const qmpB = path.join(dir, `qmp-b${attempt}`);
      const src = await Guest.boot({ socket: sock('a'), qemuServer: false, ip, qmp: qmpA, loglevel: 4 });
      cleanups.push(() => src.kill());
      const port = 20000 + ((process.pid * 7 + n * 13 + attempt) % 20000);
      const dst = await Guest.boot({ socket: sock('b'), qemuServer: false, ip, qmp: qmpB, incoming: `tcp:127.0.0.1:${port}`, paused: true, loglevel: 4 });
      cleanups.push(() => dst.kill());
      await fwd.waitConnected(0);
      const s: Setup = { fwd, guest: src, ns, peer, guestIp, dir };
      await untilPingable(src, peer);

      // Under a 10 ms ping and a paced TCP stream into the guest (32 MiB at about 4 MiB/s).
      await startPing(s, 2000);
      await guestListen(src, 0);
      const paced = `const net=require('net'),fs=require('fs');const d=fs.readFileSync('${file}');let n=0;` +
        `(function go(){const c=net.connect(5001,'${guestIp}',()=>{let o=0;const t=setInterval(()=>{if(o>=d.length){clearInterval(t);c.end();return}` +
        `c.write(d.subarray(o,o+=256*1024))},62)});c.on('error',e=>{if(++n<50)setTimeout(go,200);else{console.error(e.message);process.exit(1)}})})()`;
      const stream = execa('ip', ['netns', 'exec', ns, process.execPath, '-e', paced], { timeout: 120000, reject: false });
      await new Promise((r) => setTimeout(r, 3000));

      const before = (await fwd.stats()).relay.map((r) => r.vf_to_vm.pkts_tx_to_vm);
      const t0 = Date.now();
      await qmp(qmpA, 'migrate', { uri: `tcp:127.0.0.1:${port}` });
      let st: { status?: string; downtime?: number; 'total-time'?: number } = {};
      while (Date.now() - t0 < 180000) {
        st = (await qmp(qmpA, 'query-migrate')) as typeof st;
        if (st.status === 'completed' || st.status === 'failed') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(st.status).toBe('completed');
      const migrateMs = Date.now() - t0;
      // Both paused now: the source after completing, the destination before its first instruction.
      const differ = await compareMemories(qmpA, qmpB, dir, src.memMb);
      if (differ.length > 0) {
        console.log(`live migration attempt ${attempt}: QEMU lost guest writes, ${differ.length} page(s) differ between source and destination ` +
          `(at ${differ.slice(0, 8).map((p) => `0x${(p * 4096).toString(16)}`).join(' ')}); not judged`);
        stream.kill('SIGKILL');
        await stream;
        await src.kill();
        await dst.kill();
        expect(attempt).toBeLessThan(4);
        continue;
      }
      await qmp(qmpB, 'cont');
      await src.kill();
      const streamDone = await stream;
      if (streamDone.exitCode !== 0) {
        const stats = await fwd.stats();
        const guestSide = await dst.run('cat /tmp/ping.log | tail -n 5; ls -l /tmp/rx0', 20000).catch((e: unknown) => ({ code: -1, out: String(e) }));
        console.log(`the stream did not finish (exit ${String(streamDone.exitCode)}, timed out ${String(streamDone.timedOut)}); relays: ` +
          `${JSON.stringify(stats.relay.map((x) => [x.vf_to_vm.internal_state, x.vf_to_vm.pkts_tx_to_vm, x.vf_to_vm.pkts_dropped_vm_queue_full, x.vm_to_vf.pkts_tx_to_vf]))}\n` +
          `guest: ${guestSide.out}\n${dst.console.slice(-2000)}`);
      }
      expect(streamDone.exitCode).toBe(0);

      // From here the guest answers on the destination's console.
      s.guest = dst;
      const r = await pingResult(s, 120000);
      await dst.ok('wait', 120000);
      const received = await guestReceived(dst, 0);
      const mid = (await fwd.stats()).relay.map((x) => x.vf_to_vm.pkts_tx_to_vm);
      expect(await guestPing(s, 10)).toBeGreaterThanOrEqual(9);
      const after = (await fwd.stats()).relay.map((x) => x.vf_to_vm.pkts_tx_to_vm);
      console.log(`live migration (attempt ${attempt}) in ${migrateMs} ms (QEMU: total ${st['total-time'] ?? '?'} ms, downtime ${st.downtime ?? '?'} ms) ` +
        `under a 10 ms ping: ${r.sent} sent, ${r.lost} lost, longest outage ${r.longestGapMs} ms; memories identical; ` +
        `32 MiB stream ${received === sent ? 'intact' : 'CORRUPT'}; VF->VM packets relay 0 ${before[0]} -> ${mid[0]} -> ${after[0]}, relay 1 ${before[1]} -> ${mid[1]} -> ${after[1]}`);
      expect(received).toBe(sent);
      // The old relay is idle after the move, the new one carries the traffic.
      expect(after[0]).toBe(mid[0]);
      expect((after[1] ?? 0) - (mid[1] ?? 0)).toBeGreaterThanOrEqual(9);
      expect(r.longestGapMs).toBeLessThan(5000);
      break;
    }
  });
});
