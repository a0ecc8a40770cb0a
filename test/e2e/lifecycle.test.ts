// Start-up and shut-down of the service as an operator sees them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { execa } from 'execa';
import { FORWARDER_BIN, Forwarder, PORTCTL_BIN, cleanDpdkRuntime, processAlive } from '../lib/forwarder.js';

jest.setTimeout(60000);

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) {
    cleanDpdkRuntime(`vio4wd-${path.basename(d)}`);
    fs.rmSync(d, { recursive: true, force: true });
  }
  dirs = [];
});

describe('service lifecycle', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)('%s stops the supervisor and the dataplane cleanly', async (signal) => {
    const dir = Forwarder.scratch('life');
    dirs.push(dir);
    const fwd = Forwarder.write(dir, { vhostClient: false, extra: ['VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0)'] });
    await fwd.start();
    expect((await fwd.portctl('add', '--virtio-id=4', '--pci-addr=0000:ff:00.1')).exitCode).toBe(0);
    const dataplanePid = fwd.dataplanePid;
    expect(processAlive(dataplanePid)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'virtio-forwarder.pid'), 'utf8').trim()).toBe(String(fwd.pid));

    const code = await fwd.stop(signal);
    expect(code).toBe(0);
    expect(fwd.log).toMatch(/vio4wd: relay 4 removed/);
    expect(fwd.log).toMatch(/dataplane stopped \(exit code 0\)/);
    expect(processAlive(dataplanePid)).toBe(false);
    for (const f of ['virtio-forwarder.pid', 'port_control', 'stats', 'dataplane.sock', 'vhost/virtio-forwarder4.sock'])
      expect(fs.existsSync(path.join(dir, f))).toBe(false);
  });

  test('a bad configuration is refused before anything starts, naming the variable and line', async () => {
    const dir = Forwarder.scratch('conf');
    dirs.push(dir);
    const fwd = Forwarder.write(dir, { vhostClient: false, extra: ['VIRTIOFWD_LOG_LEVEL=9'] });
    const r = await execa('node', [FORWARDER_BIN, '--config', fwd.configPath], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^<3>virtio-forwarder: config: .*virtioforwarder:\d+: VIRTIOFWD_LOG_LEVEL: '9' is not allowed; allowed: an integer from 0 to 7$/m);
    expect(fs.existsSync(path.join(dir, 'dataplane.sock'))).toBe(false);
  });

  test('vio4wd-portctl says clearly when nobody answers, with its own exit code', async () => {
    const ep = `ipc://${os.tmpdir()}/vio4wd-nobody-${process.pid}`;
    const r = await execa('node', [PORTCTL_BIN, 'add', '--virtio-id=1', '--pci-addr=0000:05:08.1', '--zmq_ep', ep, '--timeout', '300'], { reject: false });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/no reply from .* within 300 ms \(is virtio-forwarder running\?\)/);
  });
});
