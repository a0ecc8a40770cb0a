// A real VM for the tests: QEMU (TCG) booting Debian's kernel with the
// busybox initramfs of test/vm/ and one virtio-net NIC on a vhost-user
// socket, in either role. Commands run in the guest over its serial
// console (test/vm/init reads them), each framed by markers so that its
// output and exit code come back.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { ROOT } from './forwarder.js';

let built: Promise<string> | null = null;

/** The guest's kernel and initramfs (built once from Debian's packages, cached). */
export function guestImage(): Promise<string> {
  built ??= execa('bash', [path.join(ROOT, 'test/vm/build-guest.sh')], { stderr: 'inherit' }).then((r) => r.stdout.trim().split('\n').pop() ?? '');
  return built;
}

export interface GuestOptions {
  /** The vhost-user socket. */
  socket: string;
  /** QEMU creates and listens on the socket (the relay is a vhost-user client); else QEMU connects (and reconnects). */
  qemuServer: boolean;
  /** eth0's address, e.g. 10.251.3.2/24. */
  ip: string;
  mac?: string;
  mtu?: number;
  /** Queue pairs of the NIC (multiqueue when above 1). */
  queues?: number;
  /** VirtIO legacy only (disable-modern=on). */
  legacy?: boolean;
  memMb?: number;
  /** A QMP socket path (for migration). */
  qmp?: string;
  /** Start as a migration destination: -incoming URI. */
  incoming?: string;
  /** With incoming: stay paused when the migration completes (-S; QMP "cont" runs it). */
  paused?: boolean;
  /** A reboot restarts the guest (default: QEMU exits). */
  reboot?: boolean;
  /** The kernel's console log level (default 3: critical and worse; 4 adds errors). */
  loglevel?: number;
}

export interface RunResult {
  code: number;
  out: string;
}

const DEFAULT_MEM_MB = 256;

type Qemu = ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }>;

export class Guest {
  /** Everything the console printed. */
  console = '';
  private seq = 0;
  private exited = false;

  private constructor(
    private readonly qemu: Qemu,
    readonly opts: GuestOptions,
  ) {
    const keep = (d: Buffer) => {
      this.console += d.toString();
    };
    qemu.stdout.on('data', keep);
    qemu.stderr.on('data', keep);
    void qemu.then(() => {
      this.exited = true;
    });
  }

  /** Its memory, MB. */
  get memMb(): number {
    return this.opts.memMb ?? DEFAULT_MEM_MB;
  }

  static args(image: string, o: GuestOptions): string[] {
    const mem = o.memMb ?? DEFAULT_MEM_MB;
    const queues = o.queues ?? 1;
    const nic = [`virtio-net-pci,netdev=n0,mac=${o.mac ?? '52:54:00:12:34:56'}`,
      // MSI-X makes QEMU 7.2 segfault under TCG when the driver starts the device (TEST-HARNESS.md).
      'vectors=0', o.legacy ? 'disable-modern=on,disable-legacy=off' : 'disable-legacy=on',
      ...(queues > 1 ? ['mq=on'] : []), ...(o.mtu && o.mtu > 1500 ? [`host_mtu=${o.mtu}`] : [])].join(',');
    const chardev = `socket,id=c0,path=${o.socket}${o.qemuServer ? ',server=on,wait=off' : ',reconnect=1'}`;
    return [
      '-machine', 'q35,accel=tcg,memory-backend=mem0', '-m', `${mem}M`, '-smp', '1',
      '-object', `memory-backend-memfd,id=mem0,size=${mem}M,share=on`,
      '-kernel', path.join(image, 'vmlinuz'), '-initrd', path.join(image, 'initramfs.gz'),
      '-append', `console=ttyS0 quiet loglevel=${o.loglevel ?? 3} panic=-1 v4.ip=${o.ip} v4.mtu=${o.mtu ?? 1500}`,
      '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', ...(o.reboot ? [] : ['-no-reboot']),
      '-chardev', chardev, '-netdev', `type=vhost-user,id=n0,chardev=c0,queues=${queues}`, '-device', nic,
      ...(o.qmp ? ['-qmp', `unix:${o.qmp},server=on,wait=off`] : []),
      ...(o.incoming ? ['-incoming', o.incoming] : []),
      ...(o.paused ? ['-S'] : []),
    ];
  }

  /** Starts QEMU; resolves once the guest's init has configured eth0 (unless incoming: then at once). */
  static async boot(o: GuestOptions, timeoutMs = 120000): Promise<Guest> {
    const image = await guestImage();
    const qemu = execa('qemu-system-x86_64', Guest.args(image, o), { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false });
    const g = new Guest(qemu, o);
    if (!o.incoming) await g.waitFor(/V4-READY/, timeoutMs);
    return g;
  }

  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.console.slice(from))) {
      if (this.exited) throw new Error(`QEMU exited:\n${this.console.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`guest: no ${String(re)} within ${timeoutMs} ms:\n${this.console.slice(-3000)}`);
      await sleep(50);
    }
  }

  /** Runs a shell command line in the guest: its exit code and output (stdout and stderr). */
  async run(cmd: string, timeoutMs = 60000): Promise<RunResult> {
    const n = ++this.seq;
    const from = this.console.length;
    // The markers are printed, never echoed literally: printf assembles them.
    this.qemu.stdin.write(`printf '@@%s%d\\n' B ${n}; { ${cmd} ; } 2>&1; printf '@@%s%d %d\\n' E ${n} $?\n`);
    const end = new RegExp(`@@E${n} (\\d+)\\r?\\n`);
    await this.waitFor(end, timeoutMs, from);
    const text = this.console.slice(from);
    const b = text.indexOf(`@@B${n}`);
    const m = end.exec(text);
    const out = text.slice(b + `@@B${n}`.length, m?.index ?? text.length).replace(/\r/g, '').replace(/^\n/, '');
    return { code: Number(m?.[1] ?? -1), out };
  }

  /** Runs it and fails with the guest's output unless it exits 0. */
  async ok(cmd: string, timeoutMs = 60000): Promise<string> {
    const r = await this.run(cmd, timeoutMs);
    if (r.code !== 0) throw new Error(`guest: \`${cmd}\` exited ${r.code}:\n${r.out}`);
    return r.out;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Kills QEMU (as a host would: the guest gets no say) and waits for it. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return;
    this.qemu.kill(signal);
    await this.qemu;
  }
}

/** One QMP command on a fresh connection (QEMU serves one QMP client at a time): its "return", or it throws its "error". */
export async function qmp(socketPath: string, command: string, args?: Record<string, unknown>, timeoutMs = 10000): Promise<unknown> {
  const net = await import('node:net');
  return await new Promise<unknown>((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    let stage = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`QMP ${command}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (f: () => void) => {
      clearTimeout(timer);
      sock.end();
      f();
    };
    sock.on('error', (e) => done(() => reject(e)));
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string };
        if (msg.event) continue;
        if (stage === 0 && msg.QMP) {
          stage = 1;
          sock.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
        } else if (stage === 1 && 'return' in msg) {
          stage = 2;
          sock.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
        } else if (stage === 2) {
          if (msg.error) done(() => reject(new Error(`QMP ${command}: ${msg.error?.desc ?? JSON.stringify(msg.error)}`)));
          else done(() => resolve(msg.return));
        }
      }
    });
  });
}
