#!/usr/bin/env node
import { consoleLines } from '@vio4wd/common';
import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2), consoleLines());
process.exitCode = code;
