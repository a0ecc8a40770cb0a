#!/usr/bin/env node
// virtioforwarder_stats.py (/usr/lib[64]/virtio-forwarder/): see original.ts.
import { runOriginalStats } from './original.js';

process.exitCode = await runOriginalStats(process.argv.slice(2), {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
});
