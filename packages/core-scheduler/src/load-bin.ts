#!/usr/bin/env node
import { consoleLines } from '@vio4wd/common';
import { runLoad } from './load.js';

const stop = new AbortController();
process.on('SIGINT', () => stop.abort());
process.on('SIGTERM', () => stop.abort());
process.exitCode = await runLoad(process.argv.slice(2), consoleLines(), process.stdout.isTTY === true, stop.signal);
