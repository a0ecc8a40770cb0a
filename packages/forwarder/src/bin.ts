#!/usr/bin/env node
// virtio-forwarder daemon entry point.
import { parseArgs } from 'node:util';
import { ConfigError, createLogger, DEFAULT_CONFIG_PATH, EXIT_CONFIG, readConfig, productVersion } from '@vio4wd/common';
import { bindOrRefuse, PreflightError } from './preflight.js';
import { Supervisor } from './supervisor.js';

const HELP = `Usage: virtio-forwarder [--config FILE] [--bind-vfio-pci]

Relays packets between SR-IOV virtual functions (DPDK poll-mode drivers) and
the virtio-net devices of QEMU VMs (vhost-user), one relay per VF/VM pair, up
to 64. Run by systemd (virtio-forwarder.service); it reads its settings from a
configuration file of shell variables (VIRTIOFWD_*, VIO4WD_*) and serves
ZeroMQ endpoints for port control (vio4wd-portctl), statistics (vio4wd-stats)
and core scheduling (vio4wd_core_scheduler).

Options:
  -c, --config FILE   configuration file (default: ${DEFAULT_CONFIG_PATH})
      --bind-vfio-pci bind the devices of VIRTIOFWD_BIND_VFIO_PCI to vfio-pci
                      and exit (virtio-forwarder-bind-vfio.service, before
                      virtio-forwarder.service starts)
  -h, --help          show this help

Signals: SIGTERM and SIGINT stop every relay and exit 0.
Exit status: 0 stopped cleanly, 1 a failed start or a dataplane that kept
dying (systemd restarts it), 2 bad usage, 78 a bad configuration or a host
that fails the pre-flight checks (systemd does not restart it: fix and start).
Logs go to stdout/stderr with syslog priority prefixes
(journalctl -u virtio-forwarder).
`;

async function main(): Promise<number> {
  let values: { config: string; 'bind-vfio-pci'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c', default: DEFAULT_CONFIG_PATH },
        'bind-vfio-pci': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`virtio-forwarder: ${e instanceof Error ? e.message : String(e)}\nTry 'virtio-forwarder --help'.\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const bootLog = createLogger('virtio-forwarder');
  let loaded;
  try {
    loaded = readConfig(values.config);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) bootLog.error(`config: ${p}`);
    return EXIT_CONFIG;
  }
  const log = createLogger('virtio-forwarder', loaded.config.logLevel);
  if (values['bind-vfio-pci']) {
    try {
      await bindOrRefuse(loaded.config, log);
      return 0;
    } catch (e) {
      if (!(e instanceof PreflightError)) throw e;
      // Found by looking: the service itself finds it again and exits 78,
      // which its unit does not restart.
      if (e.changedNothing) {
        log.notice(`VIRTIOFWD_BIND_VFIO_PCI: nothing bound (${e.problems.length} problem${e.problems.length === 1 ? '' : 's'}: virtio-forwarder names them as it starts)`);
        return 0;
      }
      for (const p of e.problems) log.error(`pre-flight: ${p}`);
      return 1;
    }
  }
  log.notice(`vio4wd ${productVersion()} starting (Node.js ${process.version}, ${values.config})`);
  for (const w of loaded.warnings) log.warning(w);

  const supervisor = new Supervisor(loaded.config, log);
  let signalled = false;
  const onSignal = (sig: string) => {
    if (signalled) return;
    signalled = true;
    log.notice(`${sig} received`);
    supervisor.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error(`stop failed: ${String(e)}`);
        process.exit(1);
      },
    );
  };
  // A bug, not an input: say so at crit level, and let the service manager restart us.
  process.on('unhandledRejection', (e: unknown) => {
    log.crit(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  });
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await supervisor.start();
  } catch (e) {
    let code = 1;
    if (e instanceof PreflightError) {
      for (const p of e.problems) log.error(`pre-flight: ${p}`);
      code = EXIT_CONFIG;
    } else log.error(e instanceof Error ? e.message : String(e));
    await supervisor.stop();
    return code;
  }
  return -1; // keep running
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`<2>virtio-forwarder: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
