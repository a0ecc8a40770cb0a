// The desired-state file: what is saved comes back; a damaged file is set
// aside (never silently overwritten) and the service starts without it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { StateFile, type RelaySpec } from '@vio4wd/forwarder';

const quiet = { emerg: () => undefined, alert: () => undefined, crit: () => undefined, error: () => undefined, warning: () => undefined, notice: () => undefined, info: () => undefined, debug: () => undefined };
const errors: string[] = [];
const log = { ...quiet, error: (m: unknown) => errors.push(String(m)) } as unknown as ConstructorParameters<typeof StateFile>[1];

function scratch(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'v4-state-')), 'sub', 'relays.json');
}

const relays: RelaySpec[] = [
  { id: 0, pcis: ['0000:05:08.1'], devices: ['0000:05:08.1'], vhostPath: '/tmp/vm0.sock', vhostClient: true, origin: 'add_sock' },
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
