// A slow dataplane never splits the state. The real forwarder and dataplane;
// the dataplane is stopped (SIGSTOP) with a request on its control socket, so
// that it carries out add_relay after the supervisor's time-out
// (VIO4WD_DATAPLANE_TIMEOUT_MS). The port-control reply, vio4wd-stats, the
// state file and a following remove_sock must all tell the same story; a
// request queued behind is answered once, with its own reply. A dataplane
// silent for twice the time-out is restarted with every relay.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { z } from 'zod';
import { Forwarder, processAlive, STATS_BIN } from '../lib/forwarder.js';
import { cleanupsAfterEach, startedForwarder } from '../lib/fixtures.js';

jest.setTimeout(120000);

const cleanups = cleanupsAfterEach();
const A = '0000:ff:02.1';
const B = '0000:ff:02.0';

function started(tag: string, timeoutMs: number): Promise<Forwarder> {
  return startedForwarder(cleanups, Forwarder.scratch(tag), {
    vhostClient: false,
    extra: [`VIRTIOFWD_DEVICE_ALIASES=(${A}=net_null1 ${B}=net_null0)`, `VIO4WD_DATAPLANE_TIMEOUT_MS=${timeoutMs}`],
  });
}

/** Stops the forwarder's dataplane (SIGSTOP) with relay A plugged; resumed after the test if it still is stopped. */
async function stoppedWithA(fwd: Forwarder): Promise<number> {
  expect((await fwd.portctl('add_sock', `--vhost-path=${fwd.dir}/a.sock`, `--pci-addr=${A}`)).exitCode).toBe(0);
  const pid = fwd.dataplanePid;
  process.kill(pid, 'SIGSTOP');
  cleanups.push(async () => {
    if (processAlive(pid)) process.kill(pid, 'SIGCONT');
  });
  return pid;
}

const stateSchema = z.object({ relays: z.array(z.object({ id: z.number(), pcis: z.array(z.string()), vhostPath: z.string() })) });
const saved = (fwd: Forwarder) => stateSchema.parse(JSON.parse(fs.readFileSync(`${fwd.dir}/state/relays.json`, 'utf8'))).relays.map((r) => `${r.id} ${r.pcis.join(',')}`);

/** vio4wd-stats --json, the real CLI: each relay as "id VF". */
async function statsCli(fwd: Forwarder) {
  const r = await execa('node', [STATS_BIN, '--json', '--delay=0', '--zmq_ep', fwd.statsEp], { reject: false });
  if (r.exitCode !== 0) return { exitCode: r.exitCode, stderr: r.stderr, relays: [] };
  const rep = z.object({ relay: z.array(z.object({ id: z.number(), vf: z.object({ pci_addr_str: z.string() }) })).default([]) }).parse(JSON.parse(r.stdout));
  return { exitCode: 0, stderr: r.stderr, relays: rep.relay.map((x) => `${x.id} ${x.vf.pci_addr_str}`) };
}

describe('a slow dataplane', () => {
  test('add_relay carried out after the time-out is undone: the reply, vio4wd-stats, the state file and remove_sock agree', async () => {
    const T = 3000;
    const fwd = await started('slow', T);
    const pid = await stoppedWithA(fwd);
    const t0 = Date.now();
    const add = fwd.portctl('add_sock', `--vhost-path=${fwd.dir}/b.sock`, `--pci-addr=${B}`);
    // Queued behind add_relay in the supervisor's one connection to the dataplane.
    await sleep(300);
    const queuedStats = statsCli(fwd);
    const reply = await add;
    const answeredMs = Date.now() - t0;
    expect(reply.exitCode).toBe(1);
    expect(reply.stderr.trim()).toBe(
      `add_sock failed: dataplane did not answer 'add_relay' within ${T} ms (VIO4WD_DATAPLANE_TIMEOUT_MS); should it carry the request out later, it is undone (error 110)`);
    // Answered as failed: not saved.
    expect(saved(fwd)).toEqual([`0 ${A}`]);

    await sleep(500);
    process.kill(pid, 'SIGCONT');
    const resumedMs = Date.now() - t0;
    // The queued request: answered once, after the late reply and its undoing, with what the dataplane has.
    const queued = await queuedStats;
    expect(queued).toEqual({ exitCode: 0, stderr: '', relays: [`0 ${A}`] });
    expect(fwd.log).toMatch(new RegExp(`<4>virtio-forwarder: the dataplane carried out 'add_relay' \\(relay 1\\) after its ${T} ms time-out, when the request had been answered as failed: removing it`));
    expect(fwd.log).toMatch(/<4>virtio-forwarder: relay 1 removed again/);

    // Everyone agrees relay 1 is not there.
    expect(await statsCli(fwd)).toEqual({ exitCode: 0, stderr: '', relays: [`0 ${A}`] });
    const rm = await fwd.portctl('remove_sock', `--vhost-path=${fwd.dir}/b.sock`);
    expect([rm.exitCode, rm.stderr.trim()]).toEqual([1, `remove_sock failed: no relay uses ${fwd.dir}/b.sock (error 2)`]);
    // And the dataplane agrees: the same VF and socket plug again, as relay 1.
    expect((await fwd.portctl('add_sock', `--vhost-path=${fwd.dir}/b.sock`, `--pci-addr=${B}`)).exitCode).toBe(0);
    expect(await statsCli(fwd)).toEqual({ exitCode: 0, stderr: '', relays: [`0 ${A}`, `1 ${B}`] });
    expect(saved(fwd)).toEqual([`0 ${A}`, `1 ${B}`]);
    expect((await fwd.portctl('remove_sock', `--vhost-path=${fwd.dir}/b.sock`)).exitCode).toBe(0);
    expect(await statsCli(fwd)).toEqual({ exitCode: 0, stderr: '', relays: [`0 ${A}`] });
    // Never restarted.
    expect(fwd.dataplanePid).toBe(pid);
    process.stdout.write(`slow dataplane: add_sock answered as failed at ${answeredMs} ms (time-out ${T} ms), the dataplane resumed at ${resumedMs} ms; ` +
      `the late add undone, the queued vio4wd-stats answered once: relays ${queued.relays.join('; ')}\n`);
  });

  test('a dataplane silent for twice the time-out is killed and restarted with every relay; the request it held is failed', async () => {
    const T = 1000;
    const fwd = await started('stuck', T);
    const pid = await stoppedWithA(fwd);
    const reply = await fwd.portctl('add_sock', `--vhost-path=${fwd.dir}/b.sock`, `--pci-addr=${B}`);
    expect(reply.exitCode).toBe(1);
    expect(reply.stderr).toMatch(/dataplane did not answer 'add_relay' within 1000 ms/);
    const deadline = Date.now() + 60000;
    while (!/dataplane pid \d+ ready/.test(fwd.log.slice(fwd.log.indexOf('killing the dataplane')))) {
      if (Date.now() > deadline) throw new Error(`no restart:\n${fwd.log.slice(-3000)}`);
      await sleep(100);
    }
    expect(fwd.log).toMatch(new RegExp(`<3>virtio-forwarder: the dataplane has not answered 'add_relay' for 2000 ms: it is stuck`));
    expect(fwd.log).toMatch(new RegExp(`<3>virtio-forwarder: killing the dataplane \\(pid ${pid}\\): it stopped answering`));
    expect(fwd.dataplanePid).not.toBe(pid);
    // The relay that was plugged is back; the one answered as failed is not, anywhere.
    const until = Date.now() + 30000;
    let seen = await statsCli(fwd);
    while (seen.relays.length !== 1 && Date.now() < until) {
      await sleep(200);
      seen = await statsCli(fwd);
    }
    expect(seen).toEqual({ exitCode: 0, stderr: '', relays: [`0 ${A}`] });
    expect(saved(fwd)).toEqual([`0 ${A}`]);
    expect((await fwd.portctl('query_pci', `--vhost-path=${fwd.dir}/b.sock`)).exitCode).toBe(1);
  });
});
