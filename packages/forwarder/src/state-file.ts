// The desired state on disk: every relay added at run time (static VFs come
// from the config), so that a supervisor restart brings them back. Written
// whole, atomically (temporary file, fsync, rename, fsync of the directory):
// a crash, or a power cut, leaves either the old file or the new one, never
// half of one. Synchronous: on a busy host each wake-up of a thread-pool
// thread costs more than the write (see RelayTable.setWhile for how a reply
// need not wait for it).
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MAX_RELAYS, type Logger } from '@vio4wd/common';
import { identProblem, type RelaySpec } from './relay-table.js';

const relaySpecSchema = z.object({
  id: z.number().int().min(0).max(MAX_RELAYS - 1),
  pcis: z.array(z.string().min(1)).min(1),
  devices: z.array(z.string().min(1)).min(1),
  bond: z.object({ name: z.string().min(1), mode: z.number().int().min(0).max(6) }).optional(),
  vhostPath: z.string().startsWith('/'),
  vhostClient: z.boolean(),
  origin: z.enum(['static', 'add', 'add_sock']),
  cpu: z.tuple([z.number().int().min(0), z.number().int().min(0)]).optional(),
  ident: z.string().refine((s) => identProblem(s) === undefined, { message: 'not a valid relay identity' }).optional(),
});

const stateSchema = z.object({ version: z.literal(1), relays: z.array(relaySpecSchema) });

export class StateFile {
  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {}

  /** The saved relays; none when there is no file. A file that does not parse is set aside, not lost. */
  load(): RelaySpec[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new Error(`cannot read relay state ${this.file}: ${String(e)}`);
    }
    let parsed: z.infer<typeof stateSchema> | undefined;
    try {
      const r = stateSchema.safeParse(JSON.parse(text));
      if (r.success) parsed = r.data;
      else this.log.error(`relay state ${this.file} is not valid: ${z.prettifyError(r.error)}`);
    } catch (e) {
      this.log.error(`relay state ${this.file} is not JSON: ${String(e)}`);
    }
    if (!parsed) {
      const aside = `${this.file}.bad`;
      fs.renameSync(this.file, aside);
      this.log.error(`relay state moved to ${aside}; starting without run-time relays`);
      return [];
    }
    return parsed.relays.map((r) => {
      const spec: RelaySpec = { id: r.id, pcis: r.pcis, devices: r.devices, vhostPath: r.vhostPath, vhostClient: r.vhostClient, origin: r.origin };
      if (r.bond) spec.bond = r.bond;
      if (r.cpu) spec.cpu = r.cpu;
      if (r.ident !== undefined) spec.ident = r.ident;
      return spec;
    });
  }

  /** What this instance last wrote. */
  private written: string | undefined;

  /**
   * Replaces the file with these relays, unless it was the last thing
   * written. Throws when it cannot (the caller says what that means).
   */
  save(relays: RelaySpec[]): void {
    const text = `${JSON.stringify({ version: 1, relays }, null, 1)}\n`;
    if (text === this.written) return;
    this.written = undefined;
    const dir = path.dirname(this.file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const tmp = `${this.file}.tmp`;
    let fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    // The rename itself on disk: otherwise a power cut may bring back the old file.
    fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.written = text;
  }
}
