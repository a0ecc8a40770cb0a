#!/usr/bin/env node
// virtioforwarder_stats.py (/usr/lib[64]/virtio-forwarder/): see original.ts.
import { consoleLines } from '@vio4wd/common';
import { runOriginalStats } from './original.js';

process.exitCode = await runOriginalStats(process.argv.slice(2), consoleLines());
