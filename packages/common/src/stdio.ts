// A command's output lines, and what happens when nobody reads them.

export interface Lines {
  out(line: string): void;
  err(line: string): void;
}

let guarded = false;

/**
 * A reader that goes away (`vio4wd-stats | head -1`) ends the command at
 * once and quietly, with its exit code so far (0 unless set): what is left
 * to write has nobody to read it. Any other write error is thrown.
 */
export function endQuietlyOnBrokenPipe(): void {
  if (guarded) return;
  guarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit();
      throw e;
    });
  }
}

/** Lines to stdout and stderr (each stderr line after errPrefix), a broken pipe ending the command quietly. */
export function consoleLines(errPrefix = ''): Lines {
  endQuietlyOnBrokenPipe();
  return {
    out: (l) => void process.stdout.write(`${l}\n`),
    err: (l) => void process.stderr.write(`${errPrefix}${l}\n`),
  };
}
