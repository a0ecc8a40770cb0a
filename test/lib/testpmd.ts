// dpdk-testpmd driven interactively: a virtio_user "VM" or the peer of a
// VF stand-in (memif), sending exact bursts and reporting port counters.
import fs from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';

export interface PortCounters {
  rxPackets: number;
  txPackets: number;
}

export class Testpmd {
  private out = '';
  private exited = false;

  private constructor(
    readonly name: string,
    readonly filePrefix: string,
    private readonly proc: ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }>,
  ) {
    proc.stdout.on('data', (d: Buffer) => {
      this.out += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      this.out += d.toString();
    });
    void proc.then(() => {
      this.exited = true;
    });
  }

  /** Starts testpmd with one vdev (or several); resolves at its first prompt. */
  static async start(name: string, vdev: string | string[], opts: {
    timeoutMs?: number;
    /** Keep link-state interrupts: virtio_user in server mode accepts a restarted backend only from its LSC handler. */
    lscInterrupt?: boolean;
    /** Packet buffers and memory (MB), for many ports. */
    mbufs?: number;
    memoryMb?: number;
    /** Its memory on hugepages, as a VM's usually is (in memory: no file left behind; one segment file, which virtio_user shares with the backend). */
    hugepages?: boolean;
  } = {}): Promise<Testpmd> {
    const filePrefix = `vio4wd-test-${name}-${process.pid}`;
    const args = [
      '-oL', 'dpdk-testpmd', ...(opts.hugepages ? ['--in-memory', '--single-file-segments'] : ['--no-huge']), '-m', String(opts.memoryMb ?? 256), '-l', '0,1', '--no-pci', '--file-prefix', filePrefix,
      '--log-level=7', ...[vdev].flat().flatMap((v) => ['--vdev', v]), '--', '-i', `--total-num-mbufs=${opts.mbufs ?? 4096}`, '--forward-mode=rxonly', ...(opts.lscInterrupt ? [] : ['--no-lsc-interrupt']),
    ];
    const proc = execa('stdbuf', args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false });
    const t = new Testpmd(name, filePrefix, proc);
    try {
      // Not anchored at the end: testpmd may print after its first prompt.
      await t.waitFor(/testpmd> /, opts.timeoutMs ?? 30000);
    } catch (e) {
      proc.kill('SIGKILL');
      await proc;
      throw e;
    }
    return t;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get log(): string {
    return this.out;
  }

  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.out.slice(from);
      if (re.test(text)) return text;
      if (this.exited) throw new Error(`testpmd ${this.name} exited:\n${this.out.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`testpmd ${this.name}: timed out waiting for ${re}:\n${this.out.slice(-3000)}`);
      await sleep(20);
    }
  }

  /** Runs one command and returns what it printed up to the next prompt. */
  async cmd(line: string, timeoutMs = 10000): Promise<string> {
    const from = this.out.length;
    this.proc.stdin.write(`${line}\n`);
    return this.waitFor(/testpmd> /, timeoutMs, from);
  }

  async counters(port = 0): Promise<PortCounters> {
    const text = await this.cmd(`show port stats ${port}`);
    const rx = /RX-packets:\s+(\d+)/.exec(text);
    const tx = /TX-packets:\s+(\d+)/.exec(text);
    if (!rx || !tx) throw new Error(`cannot read port stats of ${this.name}:\n${text}`);
    return { rxPackets: Number(rx[1]), txPackets: Number(tx[1]) };
  }

  /** Waits until counters satisfy pred; returns the last reading. */
  async waitCounters(pred: (c: PortCounters) => boolean, timeoutMs = 10000): Promise<PortCounters> {
    const deadline = Date.now() + timeoutMs;
    let c = await this.counters();
    while (!pred(c) && Date.now() < deadline) {
      await sleep(100);
      c = await this.counters();
    }
    return c;
  }

  /**
   * Sets the nice value of the forwarding lcore's thread (lcore 1, rte-worker-1), leaving
   * the main and control threads (the prompt, virtio_user's vhost-user
   * messages) as they are.
   */
  reniceForwarding(nice: number): void {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`testpmd ${this.name} has no pid`);
    const tasks = fs.readdirSync(`/proc/${pid}/task`);
    const tid = tasks.find((t) => fs.readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === 'rte-worker-1');
    if (tid === undefined) throw new Error(`testpmd ${this.name}: no rte-worker-1 thread among ${tasks.length}`);
    os.setPriority(Number(tid), nice);
  }

  /** Sends bursts x 32 packets of 64 bytes, then keeps receiving (rxonly). */
  async sendBursts(bursts: number): Promise<void> {
    await this.cmd(`start tx_first ${bursts}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return;
    this.proc.kill(signal);
    await this.proc;
  }

  async quit(): Promise<void> {
    if (this.exited) return;
    this.proc.stdin.write('quit\n');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    await this.proc;
    clearTimeout(timer);
  }
}
