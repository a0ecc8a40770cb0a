#!/usr/bin/env node
import { consoleLines } from '@vio4wd/common';
import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2), consoleLines());
