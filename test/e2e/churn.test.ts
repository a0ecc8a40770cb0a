// The dataplane never hangs on SIGTERM, whatever the VMs are doing: 50
// shutdowns while VM processes keep connecting and disconnecting.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, jest, test } from '@jest/globals';
import { execa, type ResultPromise } from 'execa';
import { DataplaneClient } from '@vio4wd/common';
import { DATAPLANE, Forwarder, cleanDpdkRuntime } from '../lib/forwarder.js';

jest.setTimeout(300000);

const ROUNDS = 50;
const dir = Forwarder.scratch('churn');
let churning = true;
/** The VM's side of vhost-user: server when the dataplane is in client mode. */
let vmServer = false;
let vm: ResultPromise | undefined;

afterAll(async () => {
  churning = false;
  vm?.kill('SIGKILL');
  await vm;
  fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A VM that connects, lives 0.2-3 s, is killed, and comes back, until told to stop. */
async function churnVms(sock: string): Promise<number> {
  let starts = 0;
  while (churning) {
    const prefix = `vio4wd-churnvm-${process.pid}`;
    vm = execa('dpdk-testpmd', ['--no-huge', '-m', '128', '-l', '0,1', '--no-pci', '--file-prefix', prefix, '--log-level=1',
      '--vdev', `net_virtio_user0,path=${sock}${vmServer ? '-c,server=1' : ''}`, '--', '--total-num-mbufs=2048', '--stats-period=100'],
    { reject: false, buffer: false, stdio: 'ignore' });
    starts++;
    // Killed after its lifetime, or restarted at once if it could not connect.
    await Promise.race([sleep(200 + Math.random() * 2800), vm]);
    vm.kill('SIGKILL');
    await vm;
    cleanDpdkRuntime(prefix);
  }
  return starts;
}

describe('shutdown under VM churn', () => {
  test(`${ROUNDS} SIGTERMs while VMs connect and disconnect: every exit is clean and within 2 s`, async () => {
    const sock = path.join(dir, 'vm.sock');
    const churn = churnVms(sock);
    const exits: number[] = [];
    let connectedSeen = 0;
    let dp: ReturnType<typeof execa> | undefined;
    // A failure stops the churn and the dataplane: nothing is left running.
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const prefix = `vio4wd-churndp-${process.pid}`;
        const ctl = path.join(dir, 'ctl.sock');
        const proc = execa(DATAPLANE, ['--no-huge', '-m', '256', '-l', '0,1', '--file-prefix', prefix, '-a', '0000:00:00.0', '--log-level=3',
          '--', '--control-socket', ctl, '--vhost-dir', dir], { reject: false, buffer: false, stdio: 'ignore' });
        dp = proc;
        for (let k = 0; k < 200 && !fs.existsSync(ctl); k++) await sleep(20);
        const client = new DataplaneClient(ctl);
        await client.connect();
        // Alternate server and client mode: both reconnect paths are exercised.
        vmServer = i % 2 === 1;
        // (A socket path per mode: a server-mode VM may still hold the client-mode one.)
        await client.addRelay({ id: 0, vf: 'net_null0', vhostPath: vmServer ? `${sock}-c` : sock, vhostClient: vmServer });
        await sleep(200 + Math.random() * 1800);
        if ((await client.stats()).relays[0]?.connected) connectedSeen++;
        const t0 = Date.now();
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
        const r = await proc;
        clearTimeout(timer);
        exits.push(Date.now() - t0);
        client.close();
        expect(r.signal).toBeUndefined();
        expect(r.exitCode).toBe(0);
        cleanDpdkRuntime(prefix);
      }
    } finally {
      churning = false;
      dp?.kill('SIGKILL');
    }
    const starts = await churn;
    console.log(`${ROUNDS} shutdowns: max ${Math.max(...exits)} ms, median ${exits.sort((a, b) => a - b)[ROUNDS >> 1]} ms; ` +
      `${starts} VM starts; a VM was connected at ${connectedSeen} of the SIGTERMs`);
    expect(Math.max(...exits)).toBeLessThan(2000);
    expect(connectedSeen).toBeGreaterThan(0);
    expect(starts).toBeGreaterThan(ROUNDS / 2);
  });
});
