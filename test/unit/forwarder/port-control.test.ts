// Port control's rules against a fake dataplane: what is refused (with which
// errno), what reaches the dataplane, and what the relay table keeps.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DataplaneError, MAX_RELAYS, PortControlOp, PortControlStatus, type PortControlRequest } from '@vio4wd/common';
import { PortControl, RelayTable, relayIdent, type RelayDriver, type RelaySpec } from '@vio4wd/forwarder';
import { captureLog } from '../../lib/log-capture.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vio4wd-pc-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A dataplane that records what it is asked and refuses what it is told to. */
class FakeDriver implements RelayDriver {
  readonly calls: string[] = [];
  refuseAdd: Error | null = null;

  async addRelay(spec: RelaySpec): Promise<void> {
    this.calls.push(`add ${spec.id} ${spec.devices.join(';')} ${spec.vhostPath}`);
    if (this.refuseAdd) throw this.refuseAdd;
  }

  async removeRelay(spec: RelaySpec): Promise<void> {
    this.calls.push(`remove ${spec.id}`);
  }
}

function setUp(overrides: Partial<ConstructorParameters<typeof PortControl>[0]> = {}) {
  const saved: RelaySpec[][] = [];
  const table = new RelayTable((all) => saved.push(all));
  const driver = new FakeDriver();
  const { log, lines } = captureLog();
  const pc = new PortControl({
    socketDir: dir,
    vhostSocketDirs: [],
    socketFnamePattern: 'vm%u.sock',
    vhostClient: true,
    dynamicSockets: true,
    deviceAliases: new Map([['0000:05:00.1', 'net_null0']]),
    cpuPins: [{ relay: 2, vfToVm: 1, vmToVf: 0 }],
    ...overrides,
  }, table, driver, log);
  return { pc, table, driver, lines, saved };
}

const pci = (s: string) => {
  const [d, b, rest] = s.split(':') as [string, string, string];
  const [sl, fn] = rest.split('.') as [string, string];
  return { domain: parseInt(d, 16), bus: parseInt(b, 16), slot: parseInt(sl, 16), function: parseInt(fn, 16) };
};
const req = (op: number, fields: Partial<PortControlRequest> = {}): PortControlRequest => ({ op, pci_addrs: [], conditional: false, ...fields });
const OK = { status: PortControlStatus.OK };
const refused = (code: number) => expect.objectContaining({ status: PortControlStatus.ERROR, error_code: code });

describe('PortControl add and remove by virtio id', () => {
  test('add plugs the aliased device on the pattern socket, with the pinned CPUs, and the table keeps it', async () => {
    const { pc, table, driver } = setUp();
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 2, pci_addrs: [pci('0000:05:00.1')] }))).toEqual(OK);
    expect(driver.calls).toEqual([`add 2 net_null0 ${dir}/vm2.sock`]);
    expect(table.get(2)).toMatchObject({ pcis: ['0000:05:00.1'], devices: ['net_null0'], cpu: [1, 0], origin: 'add' });
  });

  test('a second add of the id is EEXIST unless conditional and the same; the dataplane is asked once', async () => {
    const { pc, driver } = setUp();
    const add = req(PortControlOp.ADD, { virtio_id: 1, pci_addrs: [pci('0000:05:00.2')] });
    expect(await pc.handle(add)).toEqual(OK);
    expect(await pc.handle(add)).toEqual(refused(17));
    expect(await pc.handle({ ...add, conditional: true })).toEqual(OK);
    expect(await pc.handle({ ...add, conditional: true, pci_addrs: [pci('0000:05:00.3')] })).toEqual(refused(17));
    expect(driver.calls).toHaveLength(1);
  });

  test('a VF relayed by another relay is EEXIST', async () => {
    const { pc } = setUp();
    await pc.handle(req(PortControlOp.ADD, { virtio_id: 1, pci_addrs: [pci('0000:05:00.2')] }));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 3, pci_addrs: [pci('0000:05:00.2')] }))).toEqual(refused(17));
  });

  test('a dataplane refusal is passed on with its errno, and the table is as before', async () => {
    const { pc, table, driver, saved } = setUp();
    driver.refuseAdd = new DataplaneError('no such device', 19);
    const reply = await pc.handle(req(PortControlOp.ADD, { virtio_id: 4, pci_addrs: [pci('0000:05:00.4')] }));
    expect(reply).toEqual({ status: PortControlStatus.ERROR, error_code: 19, error_code_source: 'dataplane: no such device' });
    expect(table.get(4)).toBeUndefined();
    expect(saved.at(-1) ?? []).toEqual([]);
  });

  test('a failure that is not a refusal is not dressed up as one', async () => {
    const { pc, driver } = setUp();
    driver.refuseAdd = new TypeError('a bug');
    await expect(pc.handle(req(PortControlOp.ADD, { virtio_id: 4, pci_addrs: [pci('0000:05:00.4')] }))).rejects.toThrow('a bug');
  });

  test('bad virtio ids and addresses are EINVAL before the dataplane hears of them', async () => {
    const { pc, driver } = setUp();
    expect(await pc.handle(req(PortControlOp.ADD, { pci_addrs: [pci('0000:05:00.4')] }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: MAX_RELAYS, pci_addrs: [pci('0000:05:00.4')] }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 1 }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 1, pci_addrs: [{ domain: 0x10000, bus: 0, slot: 0, function: 0 }] }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 1, pci_addrs: [pci('0000:05:00.4'), pci('0000:05:00.4')] }))).toEqual(refused(22));
    expect(await pc.handle(req(9))).toEqual(refused(22));
    expect(driver.calls).toEqual([]);
  });

  test('a bond needs a valid name, at most 8 members and a mode 0-6', async () => {
    const { pc, table } = setUp();
    const members = [pci('0000:05:00.4'), pci('0000:05:00.5')];
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 5, pci_addrs: members }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 5, pci_addrs: members, name: 'bad name' }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 5, pci_addrs: members, name: 'b0', mode: 7 }))).toEqual(refused(22));
    const nine = Array.from({ length: 9 }, (_, i) => pci(`0000:06:00.${i % 8}`)).map((a, i) => ({ ...a, bus: 6 + i }));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 5, pci_addrs: nine, name: 'b0' }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 5, pci_addrs: members, name: 'b0' }))).toEqual(OK);
    expect(table.get(5)?.bond).toEqual({ name: 'b0', mode: 1 });
  });

  test('remove: ENOENT, or OK when conditional; a PCI address that does not match is EINVAL', async () => {
    const { pc, table, driver } = setUp();
    expect(await pc.handle(req(PortControlOp.REMOVE, { virtio_id: 1 }))).toEqual(refused(2));
    expect(await pc.handle(req(PortControlOp.REMOVE, { virtio_id: 1, conditional: true }))).toEqual(OK);
    await pc.handle(req(PortControlOp.ADD, { virtio_id: 1, pci_addrs: [pci('0000:05:00.2')] }));
    expect(await pc.handle(req(PortControlOp.REMOVE, { virtio_id: 1, pci_addrs: [pci('0000:05:00.3')] }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.REMOVE, { virtio_id: 1, pci_addrs: [pci('0000:05:00.2')] }))).toEqual(OK);
    expect(driver.calls.at(-1)).toBe('remove 1');
    expect(table.get(1)).toBeUndefined();
  });
});

describe('PortControl socket pairs', () => {
  test('add_sock takes the lowest free id, query_pci finds it, remove_sock by path or PCI takes it out', async () => {
    const { pc, table } = setUp();
    const sock = path.join(dir, 'a.sock');
    expect(await pc.handle(req(PortControlOp.ADD_SOCK, { vhost_path: sock, pci_addrs: [pci('0000:05:00.6')] }))).toEqual(OK);
    expect(table.byVhostPath(sock)?.id).toBe(0);
    expect(await pc.handle(req(PortControlOp.QUERY_PCI, { vhost_path: sock }))).toEqual({ ...OK, query_string: '0000:05:00.6' });
    expect(await pc.handle(req(PortControlOp.REMOVE_SOCK, { vhost_path: sock, pci_addrs: [pci('0000:05:00.7')] }))).toEqual(refused(22));
    expect(await pc.handle(req(PortControlOp.REMOVE_SOCK, { pci_addrs: [pci('0000:05:00.6')] }))).toEqual(OK);
    expect(await pc.handle(req(PortControlOp.QUERY_PCI, { vhost_path: sock }))).toEqual(refused(2));
    expect(await pc.handle(req(PortControlOp.REMOVE_SOCK, { vhost_path: sock }))).toEqual(refused(2));
    expect(await pc.handle(req(PortControlOp.REMOVE_SOCK, { vhost_path: sock, conditional: true }))).toEqual(OK);
  });

  test('add_sock is ENOTSUP without dynamic sockets and EACCES outside the allowed directories', async () => {
    expect(await setUp({ dynamicSockets: false }).pc.handle(req(PortControlOp.ADD_SOCK, { vhost_path: path.join(dir, 'a.sock'), pci_addrs: [pci('0000:05:00.6')] })))
      .toEqual(refused(95));
    const { pc, lines } = setUp();
    expect(await pc.handle(req(PortControlOp.ADD_SOCK, { vhost_path: '/etc/x.sock', pci_addrs: [pci('0000:05:00.6')] }))).toEqual(refused(13));
    expect(await pc.handle(req(PortControlOp.ADD_SOCK, { vhost_path: 'relative.sock', pci_addrs: [pci('0000:05:00.6')] }))).toEqual(refused(22));
    // Each refusal logged at warning.
    expect(lines.filter((l) => l.startsWith('warning port control: add_sock'))).toHaveLength(2);
  });

  test('when all relays are in use add_sock is ENOSPC', async () => {
    const { pc } = setUp();
    for (let i = 0; i < MAX_RELAYS; i++) {
      const r = await pc.handle(req(PortControlOp.ADD_SOCK, { vhost_path: path.join(dir, `s${i}.sock`), pci_addrs: [{ domain: 0, bus: 0x10 + i, slot: 0, function: 0 }] }));
      expect(r).toEqual(OK);
    }
    expect(await pc.handle(req(PortControlOp.ADD_SOCK, { vhost_path: path.join(dir, 'one-more.sock'), pci_addrs: [pci('0000:ff:00.0')] }))).toEqual(refused(28));
  });
});

describe('a relay identity (--ident, PortControlRequest field 8)', () => {
  test('add and add_sock keep a valid one; the table has it, and a conditional repeat must name the same', async () => {
    const { pc, table, lines } = setUp();
    expect(await pc.handle(req(PortControlOp.ADD, { virtio_id: 1, pci_addrs: [pci('0000:05:00.2')], ident: 'vm-7 eth0' }))).toEqual(OK);
    expect(table.get(1)?.ident).toBe('vm-7 eth0');
    expect(lines.some((l) => l.includes('relay 1 (vm-7 eth0) added'))).toBe(true);
    const again = req(PortControlOp.ADD, { virtio_id: 1, pci_addrs: [pci('0000:05:00.2')], ident: 'vm-7 eth0', conditional: true });
    expect(await pc.handle(again)).toEqual(OK);
    expect(await pc.handle({ ...again, ident: 'vm-8' })).toEqual(expect.objectContaining({
      error_code: 17, error_code_source: expect.stringContaining('identity "vm-7 eth0"') as unknown as string }));
    expect(await pc.handle(req(PortControlOp.ADD_SOCK, { vhost_path: `${dir}/a.sock`, pci_addrs: [pci('0000:05:00.3')], ident: 'ünïcode ok' }))).toEqual(OK);
    expect(table.byVhostPath(`${dir}/a.sock`)?.ident).toBe('ünïcode ok');
  });

  test.each([
    ['', 'is empty'],
    ['x'.repeat(129), 'is longer than 128 bytes'],
    ['é'.repeat(65), 'is longer than 128 bytes'],
    ['tab\there', 'holds a control character'],
    ['esc\u001b[31m', 'holds a control character'],
    [' lead', 'begins or ends with white space'],
  ])('%j is refused (EINVAL): %s, and nothing reaches the dataplane', async (ident, why) => {
    const { pc, driver, table } = setUp();
    const r = await pc.handle(req(PortControlOp.ADD_SOCK, { vhost_path: `${dir}/b.sock`, pci_addrs: [pci('0000:05:00.3')], ident }));
    expect(r).toEqual(expect.objectContaining({ error_code: 22, error_code_source: expect.stringContaining(why) as unknown as string }));
    expect(driver.calls).toEqual([]);
    expect(table.all()).toEqual([]);
  });

  test('without one: OpenStack\'s socket names give "neutron:<port id prefix>", a bond its name, else none', () => {
    const base = { vhostClient: false };
    expect(relayIdent({ ...base, vhostPath: '/var/run/openvswitch/vhu3f2b9c1a-4d' })).toBe('neutron:3f2b9c1a-4d');
    expect(relayIdent({ ...base, vhostPath: '/var/run/openvswitch/vhu3f2b9c1a-4d.sock' })).toBeUndefined();
    expect(relayIdent({ ...base, vhostPath: '/tmp/virtio-forwarder/virtio-forwarder1.sock', bond: { name: 'uplink', mode: 1 } })).toBe('uplink');
    expect(relayIdent({ ...base, vhostPath: '/tmp/virtio-forwarder/vm1.sock' })).toBeUndefined();
    expect(relayIdent({ ...base, vhostPath: '/var/run/openvswitch/vhu3f2b9c1a-4d', ident: 'given' })).toBe('given');
  });
});
