#!/usr/bin/env node
// virtioforwarder_port_control.py, at the path the original installed
// (/usr/lib[64]/virtio-forwarder/): the same verbs and flags as
// vio4wd-portctl, with the original's exit codes, which orchestration reads
// (OpenStack's os-vif runs add_sock/remove_sock and checks only the code):
// 0 done, 1 anything else the daemon or the transport did (here: refused
// or no reply), 2 bad usage. Its test-only flags (--send-garbage,
// --crash-after-send) are not offered.
import { consoleLines } from '@vio4wd/common';
import { EXIT_NO_REPLY, EXIT_REFUSED, runCli } from './cli.js';

const code = await runCli(process.argv.slice(2), consoleLines());
process.exitCode = code === EXIT_NO_REPLY ? EXIT_REFUSED : code;
