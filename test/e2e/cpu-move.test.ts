// Run-time CPU moves: a relay's directions change worker while traffic
// flows, with no packet lost or reordered (300,000 each way at 100 kpps). Two worker lcores share CPU 1
// (EAL --lcores) so that this runs on a 2-CPU machine.
import path from 'node:path';
import { describe, expect, jest, test } from '@jest/globals';
import { DataplaneError } from '@vio4wd/common';
import { Forwarder } from '../lib/forwarder.js';
import { runCount, startDataplane } from '../lib/dataplane.js';
import { cleanupsAfterEach } from '../lib/fixtures.js';

jest.setTimeout(120000);

const cleanups = cleanupsAfterEach();

describe('run-time CPU moves', () => {
  test('moving both directions back and forth under bidirectional traffic loses and reorders nothing', async () => {
    const dir = Forwarder.scratch('mv');
    // The generator shares CPU 0 with jest, which can starve it for tens of
    // ms; hold bursts for it long enough that only the moves could lose one.
    const client = await startDataplane(dir, '0@0,1@1,2@1', cleanups, ['--hold-us', '200000']);
    const hello = await client.hello();
    expect(hello.workers.map((w) => w.lcore)).toEqual([1, 2]);
    await client.addRelay({ id: 0, vf: `net_memif0,role=server,socket=${dir}/m.sock,socket-abstract=no,rsize=14`, vhostPath: `${dir}/v.sock`, vhostClient: false, cpu: [1, 1] });

    const count = 300_000;
    const gen = runCount(path.basename(dir), { memif: `${dir}/m.sock`, vhost: `${dir}/v.sock`, count, pps: 100_000 }, cleanups);

    // Move while the generator runs: every combination of the two workers.
    const placements: [number, number][] = [[2, 1], [2, 2], [1, 2], [1, 1]];
    let moves = 0;
    let done = false;
    void gen.done.finally(() => {
      done = true;
    });
    while (!done) {
      const cpu = placements[moves % placements.length] as [number, number];
      await client.setCpu(0, cpu);
      moves++;
      await new Promise((r) => setTimeout(r, 5));
    }
    const r = await gen.done;
    const stats = (await client.stats()).relays[0];

    expect(moves).toBeGreaterThanOrEqual(10);
    expect(r.vm_tx).toBe(count);
    expect(r.vf_tx).toBe(count);
    // The relay took in every packet, and nothing came out of order.
    expect(stats?.vm_to_vf.rx_pkts).toBe(count);
    expect(stats?.vf_to_vm.rx_pkts).toBe(count);
    expect(r.vf_reordered).toBe(0);
    expect(r.vm_reordered).toBe(0);
    // Zero loss: the far sides got every packet, and the relay's own
    // counters agree (nothing dropped for a full queue or a missing peer).
    const f = stats?.vf_to_vm;
    const m = stats?.vm_to_vf;
    expect(r.vm_rx).toBe(count);
    expect(r.vf_rx).toBe(count);
    expect(f?.tx_pkts).toBe(count);
    expect(m?.tx_pkts).toBe(count);
    expect([f?.drop_full_pkts, f?.drop_nc_pkts, m?.drop_full_pkts, m?.drop_nc_pkts]).toEqual([0, 0, 0, 0]);
    expect(stats?.cpu).toEqual(placements[(moves - 1) % placements.length]);
  });

  test('a move to a CPU that is not a worker is refused and changes nothing', async () => {
    const dir = Forwarder.scratch('mvbad');
    const client = await startDataplane(dir, '0@0,1@1,2@1', cleanups);
    await client.addRelay({ id: 3, vf: 'net_null0', vhostPath: `${dir}/v.sock`, vhostClient: false, cpu: [2, 1] });
    for (const cpu of [[0, 1], [1, 7]] as [number, number][]) {
      const err = await client.setCpu(3, cpu).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataplaneError);
      expect((err as DataplaneError).message).toMatch(/CPU (0|7) is not a worker CPU/);
    }
    const missing = await client.setCpu(4, [1, 1]).catch((e: unknown) => e);
    expect((missing as DataplaneError).message).toBe('relay 4 does not exist');
    expect((await client.stats()).relays[0]?.cpu).toEqual([2, 1]);
  });
});
