// Bonds: several VFs and a name become one bonded port of DPDK's bonding
// driver, relayed as one; the port-control rules of the original apply.
import { describe, expect, jest, test } from '@jest/globals';
import { sharedForwarder } from '../lib/fixtures.js';

jest.setTimeout(120000);

const A = '0000:ff:00.1';
const B = '0000:ff:00.2';
const fwd = sharedForwarder('bond', () => ({ vhostClient: false, extra: [`VIRTIOFWD_DEVICE_ALIASES=(${A}=net_null0 ${B}=net_null1)`] }));

describe('bonds', () => {
  test('a bond needs a valid name; two vdev members become one relay; remove needs the name', async () => {
    const noName = await fwd.portctl('add', '--virtio-id=5', `--pci-addr=${A}`, `--pci-addr=${B}`);
    expect(noName.exitCode).toBe(1);
    expect(noName.stderr).toMatch(/needs a bond name/);
    const badName = await fwd.portctl('add', '--virtio-id=5', `--pci-addr=${A}`, `--pci-addr=${B}`, '--name=my bond');
    expect(badName.exitCode).toBe(1);
    expect(badName.stderr).toMatch(/bond name 'my bond' must be/);

    const add = await fwd.portctl('add', '--virtio-id=5', `--pci-addr=${A}`, `--pci-addr=${B}`, '--name=uplink-a', '--mode=1');
    expect(add.stderr).toBe('');
    expect(add.exitCode).toBe(0);
    expect(fwd.log).toMatch(/relay 5 added: VF net_null0;net_null1 as bond uplink-a/);
    const relay = (await fwd.stats()).relay;
    expect(relay.map((r) => [r.id, r.ident, r.vf?.pci_addr_str])).toEqual([[5, 'uplink-a', `${A},${B}`]]);

    const member = await fwd.portctl('add', '--virtio-id=6', `--pci-addr=${B}`);
    expect(member.exitCode).toBe(1);
    expect(member.stderr).toMatch(/VF 0000:ff:00.2 is already relayed by relay 5/);

    const rmNoName = await fwd.portctl('remove', '--virtio-id=5', `--pci-addr=${A}`, `--pci-addr=${B}`);
    expect(rmNoName.exitCode).toBe(1);
    expect(rmNoName.stderr).toMatch(/several PCI addresses need the bond name/);
    const rm = await fwd.portctl('remove', '--virtio-id=5', `--pci-addr=${A}`, `--pci-addr=${B}`, '--name=uplink-a');
    expect(rm.exitCode).toBe(0);
    expect((await fwd.stats()).relay).toEqual([]);
  });

  test.each([0, 2, 4])('mode %i: the bond is created, and freed on removal so the members can be used again', async (mode) => {
    const add = await fwd.portctl('add', '--virtio-id=7', `--pci-addr=${A}`, `--pci-addr=${B}`, '--name=b', `--mode=${mode}`);
    expect(add.exitCode).toBe(0);
    expect((await fwd.portctl('remove', '--virtio-id=7')).exitCode).toBe(0);
    // The members are free again: each can be a relay of its own.
    expect((await fwd.portctl('add', '--virtio-id=8', `--pci-addr=${A}`)).exitCode).toBe(0);
    expect((await fwd.portctl('remove', '--virtio-id=8')).exitCode).toBe(0);
  });
});
