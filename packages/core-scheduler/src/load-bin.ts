#!/usr/bin/env node
import { runLoad } from './load.js';

const stop = new AbortController();
process.on('SIGINT', () => stop.abort());
process.on('SIGTERM', () => stop.abort());
process.exitCode = await runLoad(process.argv.slice(2), {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
}, process.stdout.isTTY === true, stop.signal);
