// 64 relays in one forwarder, as the user guide promises: our DPDK build has
// room for them (Debian's stops at 32 ports). Each relay has a net_null VF
// (which receives without end) and a VM port: two testpmds with 32
// virtio_user ports each (Debian's testpmd holds 32), in server mode as QEMU
// is with VIRTIOFWD_VHOST_CLIENT. Every relay must deliver to its VM; a 65th
// is refused with the reason. A stats request naming relays costs what they
// do: the dataplane is asked for those alone.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, jest, test } from '@jest/globals';
import { DataplaneClient, DataplaneError, wire, zmqRequest } from '@vio4wd/common';
import { Forwarder, cleanDpdkRuntime } from '../lib/forwarder.js';
import { Testpmd } from '../lib/testpmd.js';
import { cleanupsAfterEach } from '../lib/fixtures.js';
import { get, parse, pick } from '../lib/metrics.js';
import { promtool } from '../lib/prometheus.js';

jest.setTimeout(300000);

const N = 64;
const pci = (i: number) => `0000:fe:${(i >> 3).toString(16).padStart(2, '0')}.${i & 7}`;

const cleanups = cleanupsAfterEach();

describe('64 relays', () => {
  test('64 relays plugged at once each deliver VF traffic to their VM; a 65th is refused with the reason', async () => {
    const dir = Forwarder.scratch('r64');
    const aliases = [...Array.from({ length: N }, (_, i) => `${pci(i)}=net_null${i}`), `0000:fe:1f.7=net_null${N}`].join(' ');
    // 64 relays' buffers (about 24 MB each) on 4 KiB pages.
    const fwd = Forwarder.write(dir, { vhostClient: true, extra: [`VIRTIOFWD_DEVICE_ALIASES=(${aliases})`, 'VIO4WD_MEMORY_MB=2560'] });
    cleanups.push(async () => {
      await fwd.stop();
      cleanDpdkRuntime(`vio4wd-${dir.split('/').pop() ?? ''}`);
    });
    await fwd.start();

    const vms = [0, 1].map((k) =>
      Testpmd.start(`r64-vm${k}`, Array.from({ length: 32 }, (_, j) => `net_virtio_user${j},path=${dir}/vm${k * 32 + j}.sock,server=1,queue_size=256`),
        { timeoutMs: 120000, lscInterrupt: true, mbufs: 32 * 1024, memoryMb: 1024 }));
    const started = Date.now();
    for (let i = 0; i < N; i++) {
      const r = await fwd.portctl('add_sock', `--vhost-path=${dir}/vm${i}.sock`, `--pci-addr=${pci(i)}`);
      expect({ i, code: r.exitCode, err: r.stderr }).toEqual({ i, code: 0, err: '' });
    }
    const plugMs = Date.now() - started;
    for (const vmp of vms) {
      const vm = await vmp;
      cleanups.push(async () => {
        await vm.quit();
        cleanDpdkRuntime(vm.filePrefix);
      });
      await vm.cmd('start');
    }

    // The 65th: every relay id is taken.
    const extra = await fwd.portctl('add_sock', `--vhost-path=${dir}/vm64.sock`, '--pci-addr=0000:fe:1f.7');
    expect(extra.exitCode).toBe(1);
    expect(extra.stderr).toMatch(/all 64 relays are in use/);

    // Every relay delivers to its VM: its count grows between two samples.
    const deadline = Date.now() + 60000;
    let idle: number[] = [];
    for (;;) {
      const a = await fwd.stats();
      await sleep(500);
      const b = await fwd.stats();
      const before = new Map(a.relay.map((r) => [r.id, r.vf_to_vm.pkts_tx_to_vm ?? 0]));
      idle = b.relay.filter((r) => !r.active || (r.vf_to_vm.pkts_tx_to_vm ?? 0) <= (before.get(r.id) ?? Infinity)).map((r) => r.id);
      if (b.relay.length === N && idle.length === 0) break;
      if (Date.now() > deadline) break;
    }
    expect(idle).toEqual([]);
    const s = await fwd.stats();
    expect(s.relay.map((r) => r.id)).toEqual(Array.from({ length: N }, (_, i) => i));
    // Relays by id, through the stats endpoint and from the dataplane itself (which has ids
    // for this: the endpoint does not read all 64 to answer for a few).
    const named = async (relay: number[]) =>
      wire.StatsResponse.decode(await zmqRequest(fwd.statsEp, wire.StatsRequest.encode({ relay, include_inactive: true, delay: 0 }), 5000))
        .relay.map((r) => r.id);
    expect(await named([63, 3, 17])).toEqual([3, 17, 63]);
    const client = new DataplaneClient(`${dir}/dataplane.sock`);
    await client.connect();
    cleanups.push(async () => { client.close(); });
    expect((await client.stats([63, 3, 17, 3])).relays.map((r) => r.id)).toEqual([3, 17, 63]);
    const refusal = (p: Promise<unknown>) => p.then(() => 'answered', (e: unknown) => (e instanceof DataplaneError ? e.message : String(e)));
    expect(await refusal(client.stats([]))).toBe('ids must be distinct relay ids from 0 to 63 separated by commas');
    expect(await refusal(client.stats([2, 64]))).toBe('ids must be distinct relay ids from 0 to 63 separated by commas');
    // The metrics of 64 relays: every series there once, and promtool (Debian's prometheus) finds nothing wrong.
    const t0 = performance.now();
    const text = (await get(fwd.metricsEp)).text;
    const scrapeMs = performance.now() - t0;
    const samples = parse(text);
    expect(new Set(pick(samples, 'vio4wd_relay_received_packets_total').map((x) => `${x.labels.relay}/${x.labels.direction}`)).size).toBe(2 * N);
    expect(pick(samples, 'vio4wd_relay_vm_connected').filter((x) => x.value === 1)).toHaveLength(N);
    const check = await promtool(['check', 'metrics'], text);
    expect({ code: check.exitCode, out: `${check.stdout}${check.stderr}` }).toEqual({ code: 0, out: '' });
    console.log(`a scrape of 64 relays: ${samples.length} samples, ${text.length} bytes, ${scrapeMs.toFixed(1)} ms; promtool check metrics: clean`);
    expect((await fwd.portctl('remove_sock', `--vhost-path=${dir}/vm5.sock`)).exitCode).toBe(0);
    expect(pick(parse((await get(fwd.metricsEp)).text), 'vio4wd_relay_received_packets_total').filter((x) => x.labels.relay === '5')).toEqual([]);
    expect(await named([5])).toEqual([]);
    expect(await named([5, 6])).toEqual([6]);
    expect((await client.stats([5, 6])).relays.map((r) => r.id)).toEqual([6]);
    expect(await refusal(client.stats(5))).toBe('relay 5 does not exist');
    console.log(`64 relays plugged in ${plugMs} ms; delivered to the VMs: ${s.relay.reduce((t, r) => t + (r.vf_to_vm.pkts_tx_to_vm ?? 0), 0)} packets, ` +
      `least per relay ${Math.min(...s.relay.map((r) => r.vf_to_vm.pkts_tx_to_vm ?? 0))}`);
  });
});
