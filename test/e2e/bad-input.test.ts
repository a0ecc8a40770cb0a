// Bad input on the ZeroMQ endpoints: every request gets an answer, the
// daemon keeps serving, and nothing changes.
import { describe, expect, jest, test } from '@jest/globals';
import { PortControlStatus, StatsStatus, wire, zmqRequest, type PortControlRequestInput } from '@vio4wd/common';
import { pciDriversLoaded } from '@vio4wd/forwarder';
import * as zmq from 'zeromq';
import { sharedForwarder } from '../lib/fixtures.js';

jest.setTimeout(120000);

const fwd = sharedForwarder('bad', () => ({
  vhostClient: false,
  extra: ['VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0 0000:ff:00.2=net_null1 0000:ff:00.7=net_memif9,role=nonsense)'],
}));
const dir = fwd.dir;

async function portControl(frame: Buffer) {
  return wire.PortControlResponse.decode(await zmqRequest(fwd.portControlEp, frame, 5000));
}

const request = (r: PortControlRequestInput) => wire.PortControlRequest.encode(r as never);
const vf1 = { domain: 0, bus: 0xff, slot: 0, function: 1 };

async function relayIds(): Promise<number[]> {
  return (await fwd.stats()).relay.map((r) => r.id);
}

describe('bad input on the endpoints', () => {
  test('a garbage frame on port control gets an ERROR reply and the daemon keeps serving', async () => {
    const reply = await portControl(Buffer.from('garbagé', 'utf8'));
    expect(reply.status).toBe(PortControlStatus.ERROR);
    expect(reply.error_code_source).toMatch(/PortControlRequest/);
    const empty = await portControl(Buffer.alloc(0));
    expect(empty.status).toBe(PortControlStatus.ERROR);
    expect(empty.error_code_source).toMatch(/missing required 'op'/);
    const add = await fwd.portctl('add', '--virtio-id=1', '--pci-addr=0000:ff:00.1');
    expect(add.exitCode).toBe(0);
    expect(await relayIds()).toEqual([1]);
  });

  test('a truncated request is refused', async () => {
    const full = request({ op: 2, pci_addrs: [vf1], vhost_path: `${dir}/x.sock` });
    const reply = await portControl(full.subarray(0, full.length - 3));
    expect(reply.status).toBe(PortControlStatus.ERROR);
  });

  test('a garbage frame on stats gets EBADR', async () => {
    const reply = wire.StatsResponse.decode(await zmqRequest(fwd.statsEp, Buffer.from([0xff, 0xff, 0xff]), 5000));
    expect(reply.status).toBe(StatsStatus.EBADR);
    expect(reply.relay).toEqual([]);
  });

  test('a request of several frames is answered from its first, as before; a request without a REQ envelope is dropped and the endpoint serves on', async () => {
    const req = new zmq.Request({ linger: 0, receiveTimeout: 5000 });
    req.connect(fwd.statsEp);
    await req.send([wire.StatsRequest.encode({ relay: [], include_inactive: true, delay: 0 }), Buffer.from('extra')]);
    const [frame] = await req.receive();
    req.close();
    expect(wire.StatsResponse.decode(frame ?? Buffer.alloc(0)).status).toBe(StatsStatus.OK);
    const dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(fwd.portControlEp);
    await dealer.send(Buffer.from('no envelope'));
    dealer.close();
    const after = await portControl(request({ op: 4, pci_addrs: [], conditional: false, vhost_path: `${dir}/none.sock` }));
    expect(after.status).toBe(PortControlStatus.ERROR);
    expect(after.error_code_source).toMatch(/no relay uses/);
  });

  test('a malformed PCI address is refused by the CLI and by the daemon, and changes nothing', async () => {
    const cli = await fwd.portctl('add', '--virtio-id=2', '--pci-addr=0000:zz:00.1');
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toMatch(/malformed PCI address '0000:zz:00.1'/);
    const reply = await portControl(request({ op: 0, virtio_id: 2, pci_addrs: [{ domain: 0, bus: 0xff, slot: 0x20, function: 9 }] }));
    expect(reply.status).toBe(PortControlStatus.ERROR);
    expect(reply.error_code).toBe(22);
    expect(reply.error_code_source).toMatch(/malformed PCI address/);
    expect(await relayIds()).toEqual([1]);
  });

  test('a virtio id outside 0-63 is refused and changes nothing', async () => {
    const cli = await fwd.portctl('add', '--virtio-id=64', '--pci-addr=0000:ff:00.2');
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toMatch(/virtio id 64 is outside 0-63/);
    const none = await portControl(request({ op: 0, pci_addrs: [vf1] }));
    expect(none.status).toBe(PortControlStatus.ERROR);
    expect(none.error_code_source).toMatch(/needs a virtio id/);
    expect(await relayIds()).toEqual([1]);
  });

  test('a duplicate add is refused unless conditional, and changes nothing', async () => {
    const dup = await fwd.portctl('add', '--virtio-id=1', '--pci-addr=0000:ff:00.1');
    expect(dup.exitCode).toBe(1);
    expect(dup.stderr).toMatch(/relay 1 already exists/);
    const sameVf = await fwd.portctl('add', '--virtio-id=5', '--pci-addr=0000:ff:00.1');
    expect(sameVf.exitCode).toBe(1);
    expect(sameVf.stderr).toMatch(/VF 0000:ff:00.1 is already relayed by relay 1/);
    const conditional = await fwd.portctl('add', '--virtio-id=1', '--pci-addr=0000:ff:00.1', '--conditional');
    expect(conditional.exitCode).toBe(0);
    expect(await relayIds()).toEqual([1]);
  });

  test('a VF the dataplane cannot attach is refused with its reason and leaves no relay', async () => {
    const cli = await fwd.portctl('add', '--virtio-id=7', '--pci-addr=0000:ff:00.7');
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toMatch(/cannot attach VF 'net_memif9,role=nonsense'/);
    expect(await relayIds()).toEqual([1]);
  });

  test('a PCI VF with no vfio-pci (nor uio) driver loaded is refused before the dataplane is asked', async () => {
    const cli = await fwd.portctl('add', '--virtio-id=6', '--pci-addr=0000:ff:00.6');
    expect(cli.exitCode).toBe(1);
    if (pciDriversLoaded().length === 0) {
      expect(cli.stderr).toMatch(/VF 0000:ff:00.6 is a PCI device and no driver DPDK can use is loaded \(modprobe vfio-pci.*\(error 19\)/);
    } else {
      // This host has one: then the dataplane tries, and there is no such device.
      expect(cli.stderr).toMatch(/cannot attach VF '0000:ff:00.6'/);
    }
    expect(await relayIds()).toEqual([1]);
  });

  test('remove takes the relay away; the daemon still answers after all of the above', async () => {
    const rm = await fwd.portctl('remove', '--virtio-id=1', '--pci-addr=0000:ff:00.1');
    expect(rm.exitCode).toBe(0);
    expect(await relayIds()).toEqual([]);
    expect(fwd.log).not.toMatch(/<[0-2]>/); // nothing critical was logged
  });
});
