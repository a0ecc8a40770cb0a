// The VF is a real kernel interface (net_tap) in a network namespace; the
// kernel's ping crosses the relay to a testpmd "VM" that answers ARP and ICMP.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { Forwarder, cleanDpdkRuntime } from '../lib/forwarder.js';

jest.setTimeout(120000);

const NS = `v4t${process.pid}`;
const TAP = `v4t${process.pid}`.slice(0, 15);
const cleanup: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
});

describe('a kernel interface as the VF', () => {
  test('ping from a netns through a tap VF and the relay gets replies from the VM', async () => {
    const dir = Forwarder.scratch('tap');
    const vhost = path.join(dir, 'vm.sock');
    const fwd = Forwarder.write(dir, { vhostClient: false, extra: [`VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.3=net_tap0,iface=${TAP})`] });
    cleanup.push(async () => {
      await fwd.stop();
      cleanDpdkRuntime(`vio4wd-${path.basename(dir)}`);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await fwd.start();
    expect((await fwd.portctl('add_sock', `--vhost-path=${vhost}`, '--pci-addr=0000:ff:00.3')).exitCode).toBe(0);

    await execa('ip', ['netns', 'add', NS]);
    cleanup.push(() => execa('ip', ['netns', 'del', NS], { reject: false }));
    await execa('ip', ['link', 'set', TAP, 'netns', NS]);
    await execa('ip', ['-n', NS, 'addr', 'add', '10.251.0.1/24', 'dev', TAP]);
    await execa('ip', ['-n', NS, 'link', 'set', TAP, 'up']);

    const prefix = `vio4wd-test-tapvm-${process.pid}`;
    const vm = execa('dpdk-testpmd', ['--no-huge', '-m', '256', '-l', '0,1', '--no-pci', '--file-prefix', prefix,
      '--vdev', `net_virtio_user0,path=${vhost},mac=52:54:00:00:00:02`, '--', '--total-num-mbufs=4096',
      '--forward-mode=icmpecho', '--auto-start', '--stats-period=60'], { reject: false, buffer: false, stdio: 'ignore' });
    cleanup.push(async () => {
      vm.kill('SIGINT');
      await vm;
      cleanDpdkRuntime(prefix);
    });
    await fwd.waitConnected(0);

    const ping = await execa('ip', ['netns', 'exec', NS, 'ping', '-c', '10', '-i', '0.2', '-W', '2', '10.251.0.2'], { reject: false });
    const replies = (ping.stdout.match(/bytes from 10\.251\.0\.2/g) ?? []).length;
    // The first request may go before ARP resolves; the rest must come back.
    expect(replies).toBeGreaterThanOrEqual(9);

    const relay = (await fwd.stats()).relay[0];
    expect(relay?.vm_to_vf.pkts_tx_to_vf ?? 0).toBeGreaterThanOrEqual(replies);
    expect(relay?.vf_to_vm.pkts_tx_to_vm ?? 0).toBeGreaterThanOrEqual(replies);
  });
});
