// The PID file of a running virtio-forwarder: written once it serves, read
// at start to refuse a second instance of the same configuration, removed
// at stop by its own process only.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '@vio4wd/common';

export class PidFile {
  readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, 'virtio-forwarder.pid');
  }

  /** The pid of a live virtio-forwarder named by the file, if any (a stale file is ignored). */
  running(): number | undefined {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.file, 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
    try {
      // Alive, and a node process running this service (not a recycled pid).
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return cmdline.some((a) => /virtio-forwarder|forwarder\/dist\/bin\.js$/.test(a)) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  write(log: Logger): void {
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(this.file, `${process.pid}\n`);
    } catch (e) {
      log.warning(`cannot write PID file ${this.file}: ${String(e)}`);
    }
  }

  /** Only our own: a second instance that failed to start leaves the first one's alone. */
  remove(): void {
    try {
      if (fs.readFileSync(this.file, 'utf8').trim() === String(process.pid)) fs.rmSync(this.file, { force: true });
    } catch {
      // no PID file
    }
  }
}
