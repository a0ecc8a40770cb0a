// vio4wd-portctl: the port-control client, with the original client's
// verbs, options and exit codes (0 OK, 1 ERROR reply).
import type { Argv } from 'yargs';
import {
  checkTimeout,
  CLI_TIMEOUT_MS,
  cliParser,
  DEFAULT_ENDPOINTS,
  parsePciAddress,
  PortControlOp,
  PortControlStatus,
  TimeoutError,
  wire,
  zmqRequest,
  type PortControlOpName,
  type PortControlRequestInput,
} from '@vio4wd/common';

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
/** No reply: the request may or may not have been carried out. */
export const EXIT_NO_REPLY = 3;

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

class UsageError extends Error {}

interface Args {
  'pci-addr': string[];
  'virtio-id'?: number | undefined;
  'vhost-path'?: string | undefined;
  name?: string | undefined;
  mode: number;
  ident?: string | undefined;
  zmq_ep: string;
  conditional: boolean;
  timeout: number;
}

export function buildRequest(op: PortControlOpName, a: Args): PortControlRequestInput {
  const pci_addrs = a['pci-addr'].map((text) => {
    const addr = parsePciAddress(text);
    if (!addr) throw new UsageError(`malformed PCI address '${text}' (expected DDDD:BB:SS.F, e.g. 0000:05:08.1)`);
    return addr;
  });
  const req: PortControlRequestInput = { op: PortControlOp[op], pci_addrs, conditional: a.conditional };
  if (a['virtio-id'] !== undefined) {
    if (!Number.isInteger(a['virtio-id']) || a['virtio-id'] < 0)
      throw new UsageError(`--virtio-id must be a non-negative integer, not ${a['virtio-id']}`);
    req.virtio_id = a['virtio-id'];
  }
  if (a.name !== undefined) {
    req.name = a.name;
    req.mode = a.mode;
  }
  if (a['vhost-path'] !== undefined) req.vhost_path = a['vhost-path'];
  if (a.ident !== undefined) {
    if (op !== 'ADD' && op !== 'ADD_SOCK') throw new UsageError('--ident is for add and add_sock');
    req.ident = a.ident;
  }
  return req;
}

async function send(op: PortControlOpName, a: Args, io: Io): Promise<number> {
  try {
    checkTimeout(a.timeout);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const req = buildRequest(op, a);
  const reply = wire.PortControlResponse.decode(await zmqRequest(a.zmq_ep, wire.PortControlRequest.encode(req as never), a.timeout));
  if (reply.status !== PortControlStatus.OK) {
    io.err(`${op.toLowerCase()} failed: ${reply.error_code_source ?? 'no reason given'} (error ${reply.error_code ?? '?'})`);
    return EXIT_REFUSED;
  }
  if (reply.query_string !== undefined) io.out(reply.query_string);
  return EXIT_OK;
}

const VERBS: [string, PortControlOpName, string][] = [
  ['add', 'ADD', 'relay a VF to the virtio device of --virtio-id'],
  ['remove', 'REMOVE', 'remove the relay of --virtio-id'],
  ['add_sock', 'ADD_SOCK', 'relay a VF to the vhost-user socket --vhost-path'],
  ['remove_sock', 'REMOVE_SOCK', 'remove the relay of --vhost-path and/or --pci-addr'],
  ['query_pci', 'QUERY_PCI', 'print the PCI address relayed to --vhost-path'],
];

export function buildCli(argv: string[], io: Io, done: (code: number) => void): Argv {
  let cli = cliParser(argv)
    .scriptName('vio4wd-portctl')
    .usage('$0 <op> [options]\n\nAdd and remove virtio-forwarder relays at run time.')
    .option('pci-addr', { type: 'string', array: true, default: [], describe: 'VF PCI address (DDDD:BB:SS.F); repeat for a bond' })
    .option('virtio-id', { type: 'number', describe: 'virtio id / relay number (0-63), for add and remove' })
    .option('vhost-path', { type: 'string', describe: 'vhost-user socket path, for the socket operations' })
    .option('name', { type: 'string', describe: 'bond name' })
    .option('mode', { type: 'number', default: 1, choices: [0, 1, 2, 3, 4, 5, 6], describe: 'bond mode (1: active-backup)' })
    .option('ident', { type: 'string', describe: 'who the relay serves (a port or VM name; up to 128 bytes), for add and add_sock: shown in stats, logs and metrics' })
    .option('zmq_ep', { alias: 'zmq-ep', type: 'string', default: DEFAULT_ENDPOINTS.portControl, describe: 'port control endpoint' })
    .option('conditional', { type: 'boolean', default: false, describe: 'succeed when the request would change nothing' })
    .option('timeout', { type: 'number', default: CLI_TIMEOUT_MS, describe: 'ms to wait for the reply' })
    .strict()
    .demandCommand(1, 'name an operation')
    .recommendCommands()
    .help()
    .exitProcess(false)
    .fail((msg, err) => {
      io.err(msg || (err ? err.message : 'invalid usage'));
      done(EXIT_USAGE);
    });
  for (const [verb, op, describe] of VERBS) {
    cli = cli.command(verb, describe, {}, async (a) => {
      try {
        done(await send(op, a as unknown as Args, io));
      } catch (e) {
        if (e instanceof UsageError) {
          io.err(e.message);
          done(EXIT_USAGE);
        } else if (e instanceof TimeoutError) {
          io.err(e.message);
          done(EXIT_NO_REPLY);
        } else {
          io.err(e instanceof Error ? e.message : String(e));
          done(EXIT_NO_REPLY);
        }
      }
    });
  }
  return cli;
}

/** Runs the CLI and resolves with its exit code. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  let code: number | undefined;
  const cli = buildCli(argv, io, (c) => {
    code ??= c;
  });
  try {
    await cli.parseAsync();
  } catch (e) {
    if (code === undefined) {
      io.err(e instanceof Error ? e.message : String(e));
      code = EXIT_USAGE;
    }
  }
  return code ?? EXIT_OK;
}
