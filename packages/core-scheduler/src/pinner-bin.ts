#!/usr/bin/env node
import { consoleLines } from '@vio4wd/common';
import { runPinner } from './pinner.js';

process.exitCode = await runPinner(process.argv.slice(2), consoleLines());
