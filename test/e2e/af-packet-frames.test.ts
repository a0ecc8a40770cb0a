// An af_packet VF copies each frame of its ring into one packet buffer: the
// relay's VF buffers follow the device's framesz= (not a fixed 9 KiB), so a
// jumbo relay plugs with framesz=10240; a frame size no DPDK buffer can
// hold is refused naming that, not "Cannot allocate memory". The real
// forwarder and dataplane, af_packet on a veth pair of this test.
import { describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { Forwarder } from '../lib/forwarder.js';
import { cleanupsAfterEach, startedForwarder } from '../lib/fixtures.js';

jest.setTimeout(120000);

const cleanups = cleanupsAfterEach();
const IF = `v4af${process.pid % 100000}`;

describe('af_packet VF buffers follow framesz', () => {
  test.each([
    [true, 10240],
    [false, 4096],
    [false, 2048],
  ])('jumbo %s, framesz=%d: plugged', async (jumbo, framesz) => {
    await execa('ip', ['link', 'add', IF, 'mtu', '9000', 'type', 'veth', 'peer', 'name', `${IF}p`, 'mtu', '9000']);
    cleanups.push(() => execa('ip', ['link', 'del', IF], { reject: false }));
    await execa('ip', ['link', 'set', IF, 'up']);
    await execa('ip', ['link', 'set', `${IF}p`, 'up']);
    const fwd = await startedForwarder(cleanups, Forwarder.scratch('afp'), {
      vhostClient: false,
      extra: [`VIRTIOFWD_JUMBO=${String(jumbo)}`, `VIRTIOFWD_DEVICE_ALIASES=(0000:ff:03.0=net_af_packet0,iface=${IF},framesz=${framesz},blocksz=${4 * framesz})`],
    });
    const r = await fwd.portctl('add_sock', `--vhost-path=${fwd.dir}/vm.sock`, '--pci-addr=0000:ff:03.0');
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect(fwd.log).toMatch(new RegExp(`relay 0 added: VF net_af_packet0,iface=${IF},framesz=${framesz}`));
    expect(fwd.log).not.toMatch(/will not fit in mbuf/);
  });

  test('a frame size no packet buffer can hold is refused with the reason', async () => {
    await execa('ip', ['link', 'add', IF, 'type', 'veth', 'peer', 'name', `${IF}p`]);
    cleanups.push(() => execa('ip', ['link', 'del', IF], { reject: false }));
    await execa('ip', ['link', 'set', IF, 'up']);
    const fwd = await startedForwarder(cleanups, Forwarder.scratch('afp'), {
      vhostClient: false,
      extra: ['VIRTIOFWD_JUMBO=true', `VIRTIOFWD_DEVICE_ALIASES=(0000:ff:03.0=net_af_packet0,iface=${IF},framesz=131072,blocksz=131072)`],
    });
    const r = await fwd.portctl('add_sock', `--vhost-path=${fwd.dir}/vm.sock`, '--pci-addr=0000:ff:03.0');
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe('add_sock failed: dataplane: af_packet frames of 131072 bytes (framesz=) need packet buffers of 131168 bytes; ' +
      "DPDK's buffers hold at most 65535: give framesz=65439 or less (error 22)");
    // Nothing left half plugged.
    expect((await fwd.stats()).relay).toEqual([]);
  });
});
