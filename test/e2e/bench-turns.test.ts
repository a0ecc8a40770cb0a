// The benches' measurement (npm run bench, bench:latency): a vio4wd relay
// and a testpmd, each with its own vio4wd-pktgen in --sample mode, take
// turns, the other pair stopped; each slice settles, then counts delivered
// packets, busy cycles and latency over its window. Every slice of both must
// deliver, with cycle counts of a relay that forwarded (not a stop counted as
// work), and paced traffic must keep its pace across the stops.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, jest, test } from '@jest/globals';
import { ROOT, TEST_HUGEPAGES, freeHugepages } from '../lib/forwarder.js';
import { decodeFeatures } from '../bench/features.js';
import { ovsRoot } from '../bench/ovs.js';
import { OVS_INSTALL, hostStalls, runTurns } from '../bench/relay-bench.js';

jest.setTimeout(120000);

describe('bench: relays taking turns', () => {
  test('both relays deliver in every slice; cycles per packet are those of forwarding; paced, with latency stamps', async () => {
    const [a = [], b = []] = (await runTurns([{ kind: 'vio4wd' }, { kind: 'testpmd' }], 'bidir', 64, { warmupMs: 300, durationMs: 200, settleMs: 100, slices: 3 })).slices;
    console.log(`vio4wd ${a.map((x) => `${x.mpps.toFixed(2)} Mpps ${x.cycles.toFixed(0)} cycles/pkt`).join(', ')}; ` +
      `testpmd ${b.map((x) => `${x.mpps.toFixed(2)} Mpps ${x.cycles.toFixed(0)} cycles/pkt`).join(', ')}`);
    for (const side of [a, b]) {
      expect(side).toHaveLength(3);
      for (const x of side) {
        // Both directions of 64 B frames through one core: far more than a trickle, far less than 100 Mpps.
        expect(x.mpps > 0.2 && x.mpps < 100).toBe(true);
        // A stop inside a measured burst would add a whole turn (hundreds of millions of cycles).
        expect(x.cycles > 10 && x.cycles < 20000).toBe(true);
      }
    }
    // Paced at 20 kpps a side: the pace goes on where a turn stopped (no burst to make up for it),
    // so each window delivers about 40 kpps, and the latency of what arrived in it is reported.
    const paced = (await runTurns([{ kind: 'vio4wd' }, { kind: 'testpmd' }], 'bidir', 64,
      { warmupMs: 300, durationMs: 300, settleMs: 100, slices: 2, pps: 20000, latency: true })).slices;
    for (const side of paced) {
      expect(side).toHaveLength(2);
      for (const x of side) {
        expect(x.mpps > 0.030 && x.mpps < 0.050).toBe(true);
        for (const l of [x.latency?.vmToVf, x.latency?.vfToVm]) {
          // About 6000 stamped packets a direction in 300 ms; none from before the turn (a stop lasts longer than 50 ms).
          expect((l?.n ?? 0) > 3000 && (l?.n ?? 0) < 9000).toBe(true);
          expect((l?.max_ns ?? Infinity) < 50e6).toBe(true);
        }
      }
    }
  });

  test('relays whose VM connections negotiated different features are not compared', async () => {
    // Our relay without mergeable buffers, testpmd's with them (its vhost PMD's default).
    const run = runTurns([{ kind: 'vio4wd', mrgbuf: false }, { kind: 'testpmd' }], 'vm2vf', 64, { warmupMs: 200, durationMs: 100, settleMs: 50, slices: 1 });
    await expect(run).rejects.toThrow(/not compared: .*different virtio features:\n {2}vio4wd: 0x[0-9a-f]+ \((?!MRG_RXBUF)[^)]*\)\n {2}testpmd: 0x[0-9a-f]+ \(MRG_RXBUF /);
    // The same pair with the same features: compared, and what they negotiated reported.
    const ok = await runTurns([{ kind: 'vio4wd' }, { kind: 'testpmd' }], 'vm2vf', 64, { warmupMs: 200, durationMs: 100, settleMs: 50, slices: 1 });
    expect(ok.features).toHaveLength(2);
    expect(ok.features[0]).toBe(ok.features[1]);
    expect(decodeFeatures(ok.features[0] ?? 0)).toMatch(/MRG_RXBUF .*VERSION_1/);
  });

  // OVS-DPDK (deploy/ovs-tools.sh, run by deploy/setup.sh) runs on 2 MiB pages only: CI reserves them.
  const ovs = ovsRoot() !== undefined && TEST_HUGEPAGES && freeHugepages() >= 800;
  (ovs ? test : test.skip)('OVS-DPDK as a contestant: it forwards in every slice, its PMD\'s cycles per packet are read, the same features negotiated', async () => {
    const r = await runTurns([{ kind: 'vio4wd' }, { kind: 'ovs' }], 'bidir', 64, { warmupMs: 300, durationMs: 200, settleMs: 100, slices: 2, hugepages: true });
    const [a = [], c = []] = r.slices;
    console.log(`vio4wd ${a.map((x) => `${x.mpps.toFixed(2)} Mpps ${x.cycles.toFixed(0)} cycles/pkt`).join(', ')}; ` +
      `OVS ${c.map((x) => `${x.mpps.toFixed(2)} Mpps ${x.cycles.toFixed(0)} cycles/pkt`).join(', ')}; features ${decodeFeatures(r.features[1] ?? 0)}`);
    for (const x of c) {
      expect(x.mpps > 0.2 && x.mpps < 100).toBe(true);
      expect(x.cycles > 10 && x.cycles < 20000).toBe(true);
    }
    expect(r.features[1]).toBe(r.features[0]);
    // Its configuration and a pmd-perf-show, for the bench's record.
    expect(r.notes[1]).toMatch(/dpdkvhostuserclient[\s\S]*in_port=1 actions=output:2[\s\S]*pmd thread numa_id \d+ core_id 1/);
  });
  // A skip is reported as one (not as a pass), with its reason here.
  if (!ovs) console.log(`skipping the OVS-DPDK contestant: ${ovsRoot() ? 'no 2 MiB pages for it (VIO4WD_TEST_HUGEPAGES=1 and 800 free)' : `not unpacked (${OVS_INSTALL})`}`);

  test('pktgen refuses --sample with a packet count', async () => {
    const pktgen = path.join(ROOT, 'build/dataplane/vio4wd-pktgen');
    const r = await execa(pktgen, ['--no-huge', '-m', '64', '-l', '0', '--no-pci', '--log-level=1', '--file-prefix', `v4b-usage-${process.pid}`, '--',
      '--vm', 'a', '--vf', 'b', '--sample', '--count', '10'], { reject: false });
    fs.rmSync(`/var/run/dpdk/v4b-usage-${process.pid}`, { recursive: true, force: true });
    expect({ code: r.exitCode, usage: /--sample \(not with --count\)/.test(r.stderr) }).toEqual({ code: 2, usage: true });
  });

  // vio4wd-stall-probe: the host's stalls the benches print beside their figures. A busy process on
  // the probed CPU is a stall it must see: the scheduler shares the CPU between the two, so the probe
  // loses about half of its time, in steps of a scheduler slice.
  test('the stall probe sees a CPU taken away, and refuses bad arguments', async () => {
    const probe = path.join(ROOT, 'build/dataplane/vio4wd-stall-probe');
    const hog = execa('taskset', ['-c', '0', 'node', '-e', 'for (;;);'], { reject: false });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = JSON.parse((await execa(probe, ['0', '1000', '250'])).stdout) as Record<string, number>;
      expect(r.cpu).toBe(0);
      expect(r.lost_share).toBeGreaterThan(0.2);
      expect(r.longest_us).toBeGreaterThan(500);
      expect(r.windows).toBeGreaterThanOrEqual(3);
    } finally {
      hog.kill('SIGKILL');
      await hog;
    }
    for (const args of [['0'], ['0', 'x'], ['-1', '10'], ['0', '0'], ['0', '10', '20']]) {
      const r = await execa(probe, args, { reject: false });
      expect({ args, code: r.exitCode, said: r.stderr.length > 0 }).toEqual({ args, code: 2, said: true });
    }
    // What the benches print: a line per CPU, from the probe's figures.
    const lines = await hostStalls(300, 100);
    expect(lines).toHaveLength(2);
    for (const [cpu, line] of lines.entries()) expect(line).toMatch(new RegExp(`^# host, CPU ${cpu}: stalls of 10 us or more take \\d+\\.\\d\\d% of the time`));
  });
});
