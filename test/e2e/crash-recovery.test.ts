// Crash recovery: the supervisor restarts a dataplane that dies and replays
// every relay into it; a supervisor restart brings back the relays added at
// run time (state on disk). 8 relays in vhost client mode, each with a
// net_null VF (which receives without end) and a VM port of one testpmd
// (8 virtio_user ports in server mode, as QEMU is in client mode).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, jest, test } from '@jest/globals';
import { Forwarder, TEST_HUGEPAGES, cleanDpdkRuntime, processAlive } from '../lib/forwarder.js';
import { Testpmd } from '../lib/testpmd.js';
import { cleanupsAfterEach } from '../lib/fixtures.js';

jest.setTimeout(300000);

const N = 8;
const KILLS = 10;
const pci = (i: number) => `0000:ff:01.${i}`;

const cleanups = cleanupsAfterEach();

/** pkts_tx_to_vm of every relay, or undefined while the stats endpoint cannot answer. */
async function delivered(fwd: Forwarder): Promise<Map<number, number> | undefined> {
  try {
    const s = await fwd.stats();
    return new Map(s.relay.map((r) => [r.id, r.vf_to_vm.pkts_tx_to_vm ?? 0]));
  } catch {
    return undefined;
  }
}

/** True when all N relays delivered packets to their VM within the last 100 ms. */
async function allForwarding(fwd: Forwarder): Promise<boolean> {
  const a = await delivered(fwd);
  await sleep(100);
  const b = await delivered(fwd);
  if (!a || !b) return false;
  return Array.from({ length: N }, (_, i) => i).every((i) => (b.get(i) ?? 0) > (a.get(i) ?? Infinity));
}

async function waitForwarding(fwd: Forwarder, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await allForwarding(fwd))) {
    if (Date.now() > deadline) throw new Error(`relays not all forwarding within ${timeoutMs} ms:\n${fwd.log.slice(-3000)}`);
  }
}

describe('crash recovery', () => {
  test(`${TEST_HUGEPAGES ? 'on hugepages: ' : ''}8 relays forward again after each of 10 kill -9s of the dataplane, and after a kill -9 of the supervisor`, async () => {
    const dir = Forwarder.scratch('crash');
    const aliases = Array.from({ length: N }, (_, i) => `${pci(i)}=net_null${i}`).join(' ');
    // On hugepages where CI reserved them, as in production: with --no-huge,
    // DPDK takes ~65 ms to populate each relay's buffer pool (4 KiB pages),
    // about 1 s of the replay of 8 relays.
    const fwd = Forwarder.write(dir, { vhostClient: true, hugepages: TEST_HUGEPAGES, extra: [`VIRTIOFWD_DEVICE_ALIASES=(${aliases})`] });
    cleanups.push(async () => {
      await fwd.stop();
      cleanDpdkRuntime(`vio4wd-${dir.split('/').pop() ?? ''}`);
    });
    await fwd.start();

    // The VMs: one testpmd, 8 virtio_user ports listening (each probe waits for its relay).
    const vmReady = Testpmd.start('crash-vm', Array.from({ length: N }, (_, i) => `net_virtio_user${i},path=${dir}/vm${i}.sock,server=1`), { timeoutMs: 60000, lscInterrupt: true });
    for (let i = 0; i < N; i++) {
      const r = await fwd.portctl('add_sock', `--vhost-path=${dir}/vm${i}.sock`, `--pci-addr=${pci(i)}`);
      expect(r.exitCode).toBe(0);
    }
    const vm = await vmReady;
    cleanups.push(async () => {
      await vm.quit();
      cleanDpdkRuntime(vm.filePrefix);
    });
    await vm.cmd('start');
    await waitForwarding(fwd);

    const times: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      // Each dataplane runs past the supervisor's 1 s stability threshold:
      // deaths closer together than that are a crash loop, backed off and
      // eventually given up on (not what this measures).
      await sleep(1500);
      const pid = fwd.dataplanePid;
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      await waitForwarding(fwd);
      times.push(Date.now() - t0);
      expect(fwd.dataplanePid).not.toBe(pid);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const median = ((sorted[4] ?? 0) + (sorted[5] ?? 0)) / 2;
    console.log(`recovery (kill -9 -> all ${N} relays forwarding), ms: ${times.join(' ')}; median ${median}`);
    expect(times).toHaveLength(KILLS);
    // The requirement (below 2 s) is for production, on hugepages (CI runs it
    // there: ~0.6 s). On 4K pages DPDK takes ~65 ms to populate each of a
    // relay's two pools, ~1.8 s for 8 relays on this 2-CPU machine.
    expect(median).toBeLessThan(TEST_HUGEPAGES ? 2000 : 4000);
    expect(fwd.log).toMatch(new RegExp(`dataplane restarted: ${N}/${N} relay\\(s\\) restored`));

    // The supervisor itself: kill -9, then (as systemd does for the unit's
    // cgroup) wait until its dataplane is gone too, and start it again.
    const oldDataplane = fwd.dataplanePid;
    await fwd.stop('SIGKILL');
    for (let i = 0; i < 100 && processAlive(oldDataplane); i++) await sleep(50);
    expect(processAlive(oldDataplane)).toBe(false);
    await fwd.start();
    await waitForwarding(fwd);
    const ids = (await fwd.stats()).relay.map((r) => r.id).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: N }, (_, i) => i));
    for (let i = 0; i < N; i++) expect(fwd.log).toMatch(new RegExp(`saved relay ${i} plugged: VF ${pci(i).replace('.', '\\.')} <-> ${dir}/vm${i}\\.sock`));
  });

  test('a dataplane that keeps dying right after each restart is backed off, then given up on: exit 1 for the service manager', async () => {
    const dir = Forwarder.scratch('loop');
    const fwd = Forwarder.write(dir, { vhostClient: true });
    cleanups.push(async () => {
      await fwd.stop();
      cleanDpdkRuntime(`vio4wd-${dir.split('/').pop() ?? ''}`);
    });
    await fwd.start();
    // Kill each new dataplane as soon as it is ready, until the supervisor stops restarting.
    const killed = new Set<number>();
    const deadline = Date.now() + 60000;
    while (!/giving up/.test(fwd.log) && Date.now() < deadline) {
      const pid = fwd.dataplanePid;
      if (!killed.has(pid) && processAlive(pid)) {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      }
      await sleep(20);
    }
    expect(fwd.log).toMatch(/dataplane died \(killed by SIGKILL\) 6 times in a row within 1000 ms of a restart; giving up/);
    // Restarts were delayed more and more: 250, 500, 1000, 2000, 4000 ms.
    for (const ms of [250, 500, 1000, 2000, 4000]) expect(fwd.log).toMatch(new RegExp(`restarting it in ${ms} ms`));
    expect(killed.size).toBe(6);
    expect(await fwd.exitCode()).toBe(1);
  });
});
