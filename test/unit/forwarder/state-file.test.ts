// The desired-state file: what is saved comes back; a damaged file is set
// aside (never silently overwritten) and the service starts without it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { RelayTable, StateFile, type RelaySpec } from '@vio4wd/forwarder';

const quiet = { emerg: () => undefined, alert: () => undefined, crit: () => undefined, error: () => undefined, warning: () => undefined, notice: () => undefined, info: () => undefined, debug: () => undefined };
const errors: string[] = [];
const log = { ...quiet, error: (m: unknown) => errors.push(String(m)) } as unknown as ConstructorParameters<typeof StateFile>[1];

function scratch(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'v4-state-')), 'sub', 'relays.json');
}

const relays: RelaySpec[] = [
  { id: 0, pcis: ['0000:05:08.1'], devices: ['0000:05:08.1'], vhostPath: '/tmp/vm0.sock', vhostClient: true, origin: 'add_sock', ident: 'vm-0 eth0' },
  { id: 7, pcis: ['0000:05:08.2', '0000:05:08.3'], devices: ['0000:05:08.2', 'net_tap0,iface=x'], bond: { name: 'b0', mode: 4 }, vhostPath: '/v/7.sock', vhostClient: false, origin: 'add', cpu: [1, 2] },
];

describe('relay state file', () => {
  test('a missing file is no relays; what is saved loads back the same, and no temporary file is left', () => {
    const file = scratch();
    const st = new StateFile(file, log);
    expect(st.load()).toEqual([]);
    st.save(relays);
    expect(new StateFile(file, log).load()).toEqual(relays);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['relays.json']);
    st.save([]);
    expect(st.load()).toEqual([]);
  });

  test('the same relays again are not written again; anything else is', () => {
    const file = scratch();
    const st = new StateFile(file, log);
    st.save(relays);
    const inode = fs.statSync(file).ino;
    st.save(relays.map((r) => ({ ...r })));
    expect(fs.statSync(file).ino).toBe(inode);
    st.save(relays.slice(1));
    expect(fs.statSync(file).ino).not.toBe(inode);
    expect(st.load()).toEqual(relays.slice(1));
  });

  test('a save that cannot be written throws why; the same save, once it can, writes', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'v4-state-'));
    const file = path.join(root, 'sub', 'relays.json');
    const st = new StateFile(file, log);
    st.save([]);
    fs.rmSync(path.join(root, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(root, 'sub'), 'a file where the directory should be');
    expect(() => st.save(relays)).toThrow(/EEXIST|ENOTDIR/);
    fs.rmSync(path.join(root, 'sub'));
    st.save(relays);
    expect(st.load()).toEqual(relays);
  });

  test('a relay the dataplane must take first is saved while it does; if it fails, the file is put back and the table unchanged', async () => {
    const file = scratch();
    const st = new StateFile(file, log);
    const table = new RelayTable((all) => st.save(all));
    const [a, b] = relays as [RelaySpec, RelaySpec];
    table.set(a);
    // The work's request has gone (it runs up to its first wait) before the file is written, and the file holds the new relay before the work ends.
    let sent = false;
    await table.setWhile(b, async () => {
      sent = true;
      expect(st.load()).toEqual([a]);
      await new Promise((r) => setTimeout(r, 20));
      expect(st.load()).toEqual([a, b]);
    });
    expect(sent).toBe(true);
    expect(table.all()).toEqual([a, b]);
    expect(st.load()).toEqual([a, b]);
    await expect(table.deleteWhile(a.id, async () => {
      await new Promise((r) => setTimeout(r, 20));
      expect(st.load()).toEqual([b]);
      throw new Error('the dataplane said no');
    })).rejects.toThrow('the dataplane said no');
    expect(table.all()).toEqual([a, b]);
    expect(st.load()).toEqual([a, b]);
    // Failing at once (before the file is written) is the same.
    await expect(table.setWhile({ ...b, id: 9 }, () => Promise.reject(new Error('at once')))).rejects.toThrow('at once');
    expect(st.load()).toEqual([a, b]);
    await table.deleteWhile(a.id, () => Promise.resolve());
    expect(table.all()).toEqual([b]);
    expect(st.load()).toEqual([b]);
  });

  test.each([
    ['not JSON', '{"version":1,"relays":[', /not JSON/],
    ['a relay id out of range', '{"version":1,"relays":[{"id":64,"pcis":["a"],"devices":["a"],"vhostPath":"/s","vhostClient":true,"origin":"add"}]}', /not valid/],
    ['an unknown version', '{"version":2,"relays":[]}', /not valid/],
  ])('%s: set aside as .bad, no relays, an error that says why', (_what, text, why) => {
    const file = scratch();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    errors.length = 0;
    expect(new StateFile(file, log).load()).toEqual([]);
    expect(fs.readFileSync(`${file}.bad`, 'utf8')).toBe(text);
    expect(fs.existsSync(file)).toBe(false);
    expect(errors.join('\n')).toMatch(why);
  });
});
