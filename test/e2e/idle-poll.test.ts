// Quiet relay directions (VIO4WD_IDLE_POLL_US, the dataplane's
// --idle-poll-us): a direction that moved nothing for 10 ms leaves its
// worker's every pass and is polled with the other quiet ones every
// idle-poll-us, until it moves packets again. Here sparse traffic (a packet
// every 27 ms each way, so each direction goes quiet between packets; not a
// multiple of the sweep, so the waits spread over it) with an exaggerated
// 10 ms sweep: every packet arrives, and waits for the sweep
// (milliseconds); with 0, or with traffic dense enough never to go quiet,
// packets cross at once (microseconds). Latency from vio4wd-pktgen's TSC
// stamps (one process sends and receives).
import path from 'node:path';
import { describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { DATAPLANE, Forwarder, cleanDpdkRuntime } from '../lib/forwarder.js';
import { runCount, startDataplane, type CountResult } from '../lib/dataplane.js';
import { cleanupsAfterEach } from '../lib/fixtures.js';

jest.setTimeout(120000);

const cleanups = cleanupsAfterEach();

async function exchange(tag: string, idlePollUs: number, count: number, pps: number): Promise<CountResult> {
  const dir = Forwarder.scratch(tag);
  const client = await startDataplane(dir, '0@0,1@1', cleanups, ['--idle-poll-us', String(idlePollUs)]);
  await client.addRelay({ id: 1, vf: `net_memif0,role=server,socket=${dir}/m.sock,socket-abstract=no,rsize=14`, vhostPath: `${dir}/v.sock`, vhostClient: false });
  const r = await runCount(path.basename(dir), { memif: `${dir}/m.sock`, vhost: `${dir}/v.sock`, count, pps, latency: true }, cleanups).done;
  const st = (await client.stats()).relays[0];
  // Nothing lost, either way, and the relay counted each packet once.
  expect([r.vm_tx, r.vf_rx, r.vf_tx, r.vm_rx]).toEqual([count, count, count, count]);
  expect([st?.vm_to_vf.tx_pkts, st?.vf_to_vm.tx_pkts]).toEqual([count, count]);
  return r;
}

const ms = (ns: number | undefined) => (ns ?? NaN) / 1e6;

describe('quiet relay directions (--idle-poll-us)', () => {
  test('sparse traffic with a 10 ms sweep: every packet arrives, each after the sweep found it', async () => {
    // 32 at once (the pacing's first burst), then one every 27 ms each way.
    const r = await exchange('ipq', 10000, 96, 37);
    const [a, b] = [r.vm_to_vf_latency, r.vf_to_vm_latency];
    console.log(`--idle-poll-us 10000, 37 pps: p50 ${ms(a?.p50_ns).toFixed(3)} / ${ms(b?.p50_ns).toFixed(3)} ms, max ${ms(a?.max_ns).toFixed(3)} / ${ms(b?.max_ns).toFixed(3)} ms`);
    // A wait spread over the sweep's 10 ms (the first burst's 32 share one): the median some ms,
    // far above a direct crossing's tens of us.
    expect(ms(a?.p50_ns)).toBeGreaterThan(1);
    expect(ms(b?.p50_ns)).toBeGreaterThan(1);
    // ...and bounded by it (plus this host's scheduling noise).
    expect(ms(a?.p99_ns)).toBeLessThan(40);
    expect(ms(b?.p99_ns)).toBeLessThan(40);
  });

  test('the same with 0: every direction polled on every pass, packets cross at once', async () => {
    const r = await exchange('ip0', 0, 96, 37);
    console.log(`--idle-poll-us 0, 37 pps: p50 ${ms(r.vm_to_vf_latency?.p50_ns).toFixed(3)} / ${ms(r.vf_to_vm_latency?.p50_ns).toFixed(3)} ms`);
    expect(ms(r.vm_to_vf_latency?.p50_ns)).toBeLessThan(1);
    expect(ms(r.vf_to_vm_latency?.p50_ns)).toBeLessThan(1);
  });

  test('a 10 ms sweep leaves traffic that never goes quiet alone: 2000 pps cross at once', async () => {
    const r = await exchange('ipb', 10000, 4000, 2000);
    console.log(`--idle-poll-us 10000, 2000 pps: p50 ${ms(r.vm_to_vf_latency?.p50_ns).toFixed(3)} / ${ms(r.vf_to_vm_latency?.p50_ns).toFixed(3)} ms`);
    expect(ms(r.vm_to_vf_latency?.p50_ns)).toBeLessThan(1);
    expect(ms(r.vf_to_vm_latency?.p50_ns)).toBeLessThan(1);
  });

  test('--idle-poll-us out of range is refused before DPDK starts anything', async () => {
    const r = await execa(DATAPLANE, ['--no-huge', '-m', '64', '-l', '0', '--no-pci', '--file-prefix', `vio4wd-ipbad-${process.pid}`, '--',
      '--control-socket', '/nonexistent/ctl.sock', '--idle-poll-us', '10001'], { reject: false });
    cleanDpdkRuntime(`vio4wd-ipbad-${process.pid}`);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('--idle-poll-us must be 0 to 10000');
  });
});
