// VIRTIOFWD_MRGBUF, VIRTIOFWD_TSO and VIRTIOFWD_JUMBO reach the dataplane
// and shape what the VM negotiates and how the VF is set up;
// VIRTIOFWD_SOCKET_OWNER/GROUP give the vhost-user sockets to QEMU's user.
import fs from 'node:fs';
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { Topology } from '../lib/topology.js';

jest.setTimeout(120000);

const MRG_RXBUF = 1n << 15n;
const HOST_TSO4 = 1n << 11n;
const CSUM = 1n;

let topo: Topology | undefined;
afterEach(async () => {
  await topo?.cleanUp();
  topo = undefined;
});

/**
 * A memif relay with a VM connected (its negotiated features), and a relay
 * on net_null, a VF that allows frames as large as an mbuf (its MTU).
 */
async function features(extra: string[]): Promise<{ features: bigint; mtu: number; log: string }> {
  topo = new Topology('opt', { vhostClient: false, extra, aliases: ['0000:ff:00.2=net_null0'] });
  await topo.fwd.start();
  await topo.startVfPeer();
  await topo.addSock();
  await topo.startVm();
  await topo.fwd.waitConnected(0);
  expect((await topo.fwd.portctl('add', '--virtio-id=9', '--pci-addr=0000:ff:00.2')).exitCode).toBe(0);
  const relay = await topo.dataplaneRelay(0);
  const nullRelay = await topo.dataplaneRelay(9);
  return { features: BigInt(relay.vhost_features), mtu: nullRelay.vf_mtu, log: topo.fwd.log };
}

describe('relay options', () => {
  test('without VIRTIOFWD_MRGBUF/TSO the VM gets neither mergeable buffers nor offloads', async () => {
    const f = await features(['VIRTIOFWD_MRGBUF=false', 'VIRTIOFWD_TSO=false']);
    expect(f.features).not.toBe(0n);
    expect(f.features & MRG_RXBUF).toBe(0n);
    expect(f.features & (HOST_TSO4 | CSUM)).toBe(0n);
    expect(f.mtu).toBe(1500);
  });

  test('VIRTIOFWD_MRGBUF=true offers mergeable buffers; VIRTIOFWD_JUMBO=true raises the VF MTU', async () => {
    const f = await features(['VIRTIOFWD_MRGBUF=true', 'VIRTIOFWD_JUMBO=true']);
    expect(f.features & MRG_RXBUF).toBe(MRG_RXBUF);
    expect(f.mtu).toBeGreaterThan(1500);
    expect(f.log).toMatch(/ready: .*jumbo, mergeable buffers/);
  });

  test('VIRTIOFWD_TSO=true refuses a VF that cannot finish offloaded packets, saying why', async () => {
    topo = new Topology('tso', { vhostClient: false, extra: ['VIRTIOFWD_TSO=true'] });
    await topo.fwd.start();
    await topo.startVfPeer();
    const r = await topo.fwd.portctl('add_sock', `--vhost-path=${topo.vhost}`, '--pci-addr=0000:ff:00.1');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/TSO is on \(VIRTIOFWD_TSO\) but this VF cannot do TSO and checksum offload/);
  });

  test('VIRTIOFWD_SOCKET_OWNER/GROUP own the vhost-user sockets the relay creates, mode 0660', async () => {
    topo = new Topology('own', { vhostClient: false, extra: ['VIRTIOFWD_SOCKET_OWNER=nobody', 'VIRTIOFWD_SOCKET_GROUP=nogroup'], aliases: ['0000:ff:00.2=net_null0'] });
    await topo.fwd.start();
    expect((await topo.fwd.portctl('add', '--virtio-id=9', '--pci-addr=0000:ff:00.2')).exitCode).toBe(0);
    const st = fs.statSync((await topo.dataplaneRelay(9)).vhost_path);
    expect(st.isSocket()).toBe(true);
    // Debian's nobody and nogroup are 65534.
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o660]);
  });

  test('a socket owner that does not exist is a warning; the sockets keep their owner', async () => {
    topo = new Topology('noown', { vhostClient: false, extra: ['VIRTIOFWD_SOCKET_OWNER=no-such-user', 'VIRTIOFWD_SOCKET_GROUP=nogroup'], aliases: ['0000:ff:00.2=net_null0'] });
    await topo.fwd.start();
    expect((await topo.fwd.portctl('add', '--virtio-id=9', '--pci-addr=0000:ff:00.2')).exitCode).toBe(0);
    const st = fs.statSync((await topo.dataplaneRelay(9)).vhost_path);
    expect([st.uid, st.gid]).toEqual([0, 65534]);
    expect(topo.fwd.log).toMatch(/<4>virtio-forwarder: VIRTIOFWD_SOCKET_OWNER: no user 'no-such-user' on this host/);
  });

  // The idle sleep: the idle worker sleeps (each sleep a voluntary context switch), with a 1 us timer
  // slack so that a short sleep is not stretched by Linux's default 50 us; without it, it only polls.
  for (const sleepUs of [50, 0]) {
    test(`VIO4WD_IDLE_SLEEP_US=${sleepUs}: ${sleepUs ? 'an idle worker sleeps, its timer slack 1 us' : 'the worker polls and never sleeps'}`, async () => {
      topo = new Topology('idle', { vhostClient: false, extra: [`VIO4WD_IDLE_SLEEP_US=${sleepUs}`] });
      await topo.fwd.start();
      const task = `/proc/${topo.fwd.dataplanePid}/task`;
      const worker = fs.readdirSync(task).find((t) => fs.readFileSync(`${task}/${t}/comm`, 'utf8').startsWith('rte-worker'));
      expect(worker).toBeDefined();
      const switches = () => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`${task}/${worker ?? ''}/status`, 'utf8'))?.[1]);
      const before = switches();
      await new Promise((r) => setTimeout(r, 1000));
      const slept = switches() - before;
      // Per thread: /proc/<tid> (a task directory has no timerslack_ns).
      const slack = Number(fs.readFileSync(`/proc/${worker ?? ''}/timerslack_ns`, 'utf8'));
      if (sleepUs) {
        expect(slack).toBe(1000);
        expect(slept).toBeGreaterThan(100);
      } else {
        expect(slack).toBe(50000);
        expect(slept).toBeLessThan(20);
      }
    });
  }
});
