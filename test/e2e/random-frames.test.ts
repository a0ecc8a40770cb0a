// 10,000 random frames on each of the four ZeroMQ endpoints: every frame
// gets a reply of the endpoint's type, every frame that is not a valid request
// gets the error status, the relay state does not change, the supervisor's
// memory stays flat and the journal is not flooded.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as zmq from 'zeromq';
import { ConfigStatus, CoreSchedStatus, PortControlStatus, StatsStatus, wire } from '@vio4wd/common';
import { Forwarder, cleanDpdkRuntime } from '../lib/forwarder.js';
import { prng } from '../lib/prng.js';

jest.setTimeout(300000);

const FRAMES = 10_000;

/**
 * Mostly random bytes (0-64 of them); a third are valid requests of the
 * endpoint that were truncated or had a byte changed, to get past the first
 * field of the parser.
 */
function frames(seed: number, valid: Buffer[]): Buffer[] {
  const rnd = prng(seed);
  const byte = () => Math.floor(rnd() * 256);
  const out: Buffer[] = [];
  for (let i = 0; i < FRAMES; i++) {
    const base = valid[Math.floor(rnd() * valid.length)];
    if (i % 3 === 2 && base && base.length > 1) {
      const f = Buffer.from(base);
      if (rnd() < 0.5) out.push(f.subarray(0, 1 + Math.floor(rnd() * (f.length - 1))));
      else {
        f[Math.floor(rnd() * f.length)] = byte();
        out.push(f);
      }
    } else {
      out.push(Buffer.from(Array.from({ length: Math.floor(rnd() * 65) }, byte)));
    }
  }
  return out;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

interface Target {
  name: string;
  ep: string;
  /** Whether our own decoder takes the frame as a request (a random frame sometimes is one). */
  valid(frame: Buffer): boolean;
  /** The reply's status, and whether it is the endpoint's error status. */
  status(reply: Buffer): { status: number; error: boolean };
  samples: Buffer[];
}

const decodes = (f: () => unknown) => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

describe('random frames on every endpoint', () => {
  let fwd: Forwarder;
  let dir: string;
  let targets: Target[];

  beforeAll(async () => {
    dir = Forwarder.scratch('rnd');
    fwd = Forwarder.write(dir, {
      vhostClient: false,
      extra: [
        'VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0)',
        'VIO4WD_CORE_SCHED_ENABLE=true',
        `VIRTIOFWD_ZMQ_CORE_SCHED_EP=ipc://${dir}/core_sched`,
        `VIRTIOFWD_ZMQ_CONFIG_EP=ipc://${dir}/config`,
      ],
    });
    await fwd.start();
    expect((await fwd.portctl('add', '--virtio-id=1', '--pci-addr=0000:ff:00.1')).exitCode).toBe(0);
    const vf1 = { domain: 0, bus: 0xff, slot: 0, function: 1 };
    targets = [
      {
        name: 'port control',
        ep: fwd.portControlEp,
        valid: (f) => decodes(() => wire.PortControlRequest.decode(f)),
        status: (r) => {
          const s = wire.PortControlResponse.decode(r).status;
          return { status: s, error: s === PortControlStatus.ERROR };
        },
        samples: [
          wire.PortControlRequest.encode({ op: 4, pci_addrs: [], conditional: true, vhost_path: `${dir}/vhost/x.sock` }),
          wire.PortControlRequest.encode({ op: 0, pci_addrs: [vf1, vf1], conditional: false, virtio_id: 9, name: 'b', mode: 1 }),
        ],
      },
      {
        name: 'stats',
        ep: fwd.statsEp,
        valid: (f) => decodes(() => wire.StatsRequest.decode(f)),
        status: (r) => {
          const s = wire.StatsResponse.decode(r).status;
          return { status: s, error: s !== StatsStatus.OK };
        },
        samples: [wire.StatsRequest.encode({ relay: [1, 2, 3], include_inactive: false, delay: 0 })],
      },
      {
        name: 'core scheduling',
        ep: `ipc://${dir}/core_sched`,
        valid: (f) => decodes(() => wire.CoreSchedRequest.decode(f)),
        status: (r) => {
          const s = wire.CoreSchedResponse.decode(r).status;
          return { status: s, error: s === CoreSchedStatus.ERROR };
        },
        samples: [wire.CoreSchedRequest.encode({ op: 0, relay_cpu_map: [{ relay_number: 1, vf2virtio_cpu: 1, virtio2vf_cpu: 1 }] })],
      },
      {
        name: 'config',
        ep: `ipc://${dir}/config`,
        valid: (f) => decodes(() => wire.ConfigRequest.decode(f)),
        status: (r) => {
          const s = wire.ConfigResponse.decode(r).status;
          return { status: s, error: s !== ConfigStatus.OK };
        },
        samples: [Buffer.from([0x08, 0x01])],
      },
    ];
  });

  afterAll(async () => {
    await fwd.stop();
    cleanDpdkRuntime(`vio4wd-${path.basename(dir)}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Sends the frames to one endpoint on one REQ socket; RSS of the supervisor every 1,000 frames. */
  async function barrage(t: Target, all: Buffer[], pid: number) {
    const sock = new zmq.Request({ linger: 0, receiveTimeout: 15000, sendTimeout: 5000 });
    sock.connect(t.ep);
    let bad = 0;
    let validByChance = 0;
    const wrong: string[] = [];
    const rss: number[] = [];
    try {
      for (const [n, f] of all.entries()) {
        await sock.send(f);
        const [reply] = await sock.receive();
        if (!reply) throw new Error(`${t.name}: empty reply to frame ${n}`);
        const { status, error } = t.status(reply); // throws if the reply is not the endpoint's type
        if (t.valid(f)) validByChance++;
        else {
          bad++;
          if (!error) wrong.push(`frame ${n} (${f.toString('hex')}) got status ${status}`);
        }
        if (n % 1000 === 999) rss.push(rssKb(pid));
      }
    } finally {
      sock.close();
    }
    return { bad, validByChance, wrong, rss };
  }

  test('requests of the wrong message type: every one answered, refused unless it also reads as a valid request here', async () => {
    const lines: string[] = [];
    for (const to of targets) {
      for (const from of targets.filter((t) => t !== to)) {
        for (const frame of from.samples) {
          const sock = new zmq.Request({ linger: 0, receiveTimeout: 15000, sendTimeout: 5000 });
          sock.connect(to.ep);
          await sock.send(frame);
          const [reply] = await sock.receive();
          sock.close();
          if (!reply) throw new Error(`${to.name}: empty reply`);
          const { status, error } = to.status(reply);
          const valid = to.valid(frame);
          lines.push(`${from.name} request (${frame.toString('hex')}) -> ${to.name}: ${valid ? 'reads as valid' : 'invalid'}, status ${status}`);
          if (!valid) expect({ to: to.name, from: from.name, error }).toEqual({ to: to.name, from: from.name, error: true });
        }
      }
    }
    console.log(lines.join('\n'));
    // The relay is untouched.
    expect((await fwd.stats()).relay.map((r) => `${r.id}:${r.cpu?.vf_to_vm}`)).toEqual(['1:1']);
  });

  test(`${FRAMES} random frames on each endpoint: an answer each, an error status for each bad one, state and memory unchanged`, async () => {
    const pid = fwd.pid;
    if (pid === undefined) throw new Error('no supervisor pid');
    const report: string[] = [];
    for (const [i, t] of targets.entries()) {
      const r = await barrage(t, frames(1000 + i, t.samples), pid);
      report.push(`${t.name}: ${r.bad} bad frames, ${r.wrong.length} not refused; ${r.validByChance} valid by chance; RSS every 1,000 frames (kB): ${r.rss.join(' ')}`);
      expect(r.wrong).toEqual([]);
      expect(r.bad).toBeGreaterThan(FRAMES / 2);
    }
    // Memory: the same barrage twice more (new frames). V8 grows its heap to a
    // working size over the first passes (seen: 85-101 MB after one, ~101 MB
    // after two); from then on another pass must not grow it: a leak of even
    // 100 bytes a request would add 4 MB.
    const passes: number[] = [rssKb(pid)];
    for (const pass of [2, 3]) {
      for (const [i, t] of targets.entries()) {
        const r = await barrage(t, frames(1000 * pass + i, t.samples), pid);
        expect(r.wrong).toEqual([]);
      }
      passes.push(rssKb(pid));
    }
    const [, second = 0, third = 0] = passes;
    report.push(`RSS after passes 1, 2, 3 of ${targets.length} x ${FRAMES} frames: ${passes.join(' ')} kB (pass 3: ${third - second >= 0 ? '+' : ''}${third - second})`);
    console.log(report.join('\n'));
    expect(third - second).toBeLessThan(4 * 1024);
    // Still serving, and what was there is there.
    const stats = await fwd.stats();
    expect(stats.relay.map((r) => r.id)).toEqual([1]);
    expect(stats.relay[0]?.cpu).toEqual({ vf_to_vm: 1, vm_to_vf: 1 });
    expect((await fwd.portctl('query_pci', `--vhost-path=${dir}/vhost/virtio-forwarder1.sock`)).stdout.trim()).toBe('0000:ff:00.1');
    // Bad and refused requests are logged a few at a time, not one line each.
    const warnings = fwd.log.split('\n').filter((l) => l.startsWith('<4>virtio-forwarder:')).length;
    console.log(`${warnings} warning lines for ${3 * targets.length * FRAMES} frames`);
    expect(warnings).toBeLessThan(500);
    expect(fwd.log).not.toMatch(/<[0-2]>/);
  });
});
