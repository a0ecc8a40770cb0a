#!/usr/bin/env node
// virtioforwarder_stats.py (/usr/lib[64]/virtio-forwarder/): see virtioforwarder-stats.ts.
import { consoleLines } from '@vio4wd/common';
import { runVirtioforwarderStats } from './virtioforwarder-stats.js';

process.exitCode = await runVirtioforwarderStats(process.argv.slice(2), consoleLines());
