#!/usr/bin/env node
import { runPinner } from './pinner.js';

process.exitCode = await runPinner(process.argv.slice(2), {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
});
