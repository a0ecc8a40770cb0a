// A relay of the desired state whose VF cannot be attached yet (here: an
// af_packet VF on an interface that does not exist yet, as a VF not yet
// bound at boot) is kept, shown in stats with the reason, and plugged as
// soon as it can be; it is never dropped from the state file.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { Forwarder, cleanDpdkRuntime } from '../lib/forwarder.js';

jest.setTimeout(120000);

const tag = Math.random().toString(36).slice(2, 6);
const IF1 = `v4r${tag}a`;
const IF2 = `v4r${tag}b`;

async function veth(name: string): Promise<void> {
  await execa('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
  await execa('ip', ['link', 'set', name, 'up']);
  await execa('ip', ['link', 'set', `${name}p`, 'up']);
}
const unveth = (name: string) => execa('ip', ['link', 'del', name], { reject: false });

describe('relays that cannot be plugged yet', () => {
  let dir: string;
  let fwd: Forwarder;

  beforeAll(() => {
    dir = Forwarder.scratch('rp');
    fwd = Forwarder.write(dir, {
      vhostClient: false,
      extra: [
        `VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_af_packet0,iface=${IF1} 0000:ff:00.2=net_af_packet1,iface=${IF2})`,
        'VIRTIOFWD_STATIC_VFS=0000:ff:00.1=3',
      ],
    });
  });

  afterAll(async () => {
    await fwd.stop();
    await unveth(IF1);
    await unveth(IF2);
    cleanDpdkRuntime(`vio4wd-${path.basename(dir)}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function stateOf(id: number): Promise<string | undefined> {
    return (await fwd.stats()).relay.find((r) => r.id === id)?.vf_to_vm.internal_state;
  }

  async function waitState(id: number, re: RegExp, timeoutMs = 15000): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const s = await stateOf(id);
      if (s !== undefined && re.test(s)) return Date.now() - t0;
      if (Date.now() - t0 > timeoutMs) throw new Error(`relay ${id} is '${String(s)}', not ${String(re)}, after ${timeoutMs} ms:\n${fwd.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const savedIds = () => {
    const state = JSON.parse(fs.readFileSync(`${dir}/state/relays.json`, 'utf8')) as { relays: { id: number }[] };
    return state.relays.map((r) => r.id);
  };

  test('a static VF that cannot attach at start: the daemon serves, stats say why, and it is plugged once its device appears', async () => {
    await fwd.start();
    expect(await stateOf(3)).toMatch(/^not plugged: .*cannot attach VF 'net_af_packet0,iface=/);
    expect(fwd.log).toMatch(/<3>virtio-forwarder: static relay 3 \(VF 0000:ff:00.1 <-> .*\) not plugged: .*trying again every 5 s/);
    await veth(IF1);
    const ms = await waitState(3, /^waiting for VM$/);
    console.log(`static relay plugged ${ms} ms after its interface appeared`);
    expect(fwd.log).toMatch(/relay 3 plugged: VF 0000:ff:00.1/);
    // Static relays are not run-time state.
    expect(savedIds()).toEqual([]);
  });

  test('a saved relay whose device is gone at restart stays saved and comes back with it; remove drops it', async () => {
    await veth(IF2);
    expect((await fwd.portctl('add_sock', '--pci-addr=0000:ff:00.2', `--vhost-path=${dir}/vm.sock`)).exitCode).toBe(0);
    expect(savedIds()).toEqual([0]);
    expect(await fwd.stop()).toBe(0);

    await unveth(IF2);
    await fwd.start();
    expect(await stateOf(0)).toMatch(/^not plugged: /);
    expect(await stateOf(3)).toBe('waiting for VM');
    expect(savedIds()).toEqual([0]);
    // The relay still holds its socket: a second add on it is refused.
    const dup = await fwd.portctl('add_sock', '--pci-addr=0000:ff:00.1', `--vhost-path=${dir}/vm.sock`);
    expect(dup.exitCode).toBe(1);
    await veth(IF2);
    await waitState(0, /^waiting for VM$/);

    // Gone again at restart, and this time removed while unplugged.
    expect(await fwd.stop()).toBe(0);
    await unveth(IF2);
    await fwd.start();
    expect(await stateOf(0)).toMatch(/^not plugged: /);
    expect((await fwd.portctl('remove_sock', `--vhost-path=${dir}/vm.sock`)).exitCode).toBe(0);
    expect(savedIds()).toEqual([]);
    expect((await fwd.stats()).relay.map((r) => r.id)).toEqual([3]);
    const before = fwd.log.length;
    await veth(IF2);
    await new Promise((r) => setTimeout(r, 6000));
    expect(fwd.log.slice(before)).not.toMatch(/relay 0/);
  });
});
