// The four ZeroMQ endpoints the supervisor serves, each its wire codec
// beside the handler that answers it.
import { constants } from 'node:os';
import {
  ConfigStatus,
  CoreSchedOp,
  CoreSchedStatus,
  PortControlOp,
  PortControlStatus,
  StatsStatus,
  wire,
  type ConfigRequest,
  type ConfigResponse,
  type CoreSchedRequest,
  type CoreSchedResponse,
  type PortControlRequest,
  type PortControlResponse,
  type StatsRequest,
  type StatsResponse,
} from '@vio4wd/common';
import type { CoreSched } from './core-sched-endpoint.js';
import type { PortControl } from './port-control.js';
import type { RequestLabels, ZmqEndpoint } from './zmq-server.js';

/** An errno as its name (EINVAL), for the result label; 0 or unknown: its number. */
export function errnoName(code: number | undefined): string {
  if (code === undefined) return 'error';
  const name = Object.entries(osErrno).find(([, n]) => n === code)?.[0];
  return name ?? `errno_${code}`;
}

const opNames = <T extends Record<string, number>>(ops: T) => new Map(Object.entries(ops).map(([k, n]) => [n, k.toLowerCase()]));
const PORT_CONTROL_OPS = opNames(PortControlOp);
const CORE_SCHED_OPS = opNames(CoreSchedOp);
const STATS_RESULTS = new Map<number, string>(Object.entries(StatsStatus).map(([k, n]) => [n, k === 'OK' ? 'ok' : k]));

/** op: the request's (undecodable: it did not decode); result: ok, or the errno it was refused with. */
function labels(op: string | undefined, ok: boolean, code: number | undefined): RequestLabels {
  return { op: op ?? 'undecodable', result: ok ? 'ok' : errnoName(code) };
}

const osErrno: Record<string, number> = constants.errno;

/** errno of a request that does not decode. */
export const EBADMSG = 74;

export function portControlEndpoint(portControl: PortControl): ZmqEndpoint<PortControlRequest, PortControlResponse> {
  return {
    name: 'port control',
    key: 'port_control',
    label: (req, rep) => labels(req && (PORT_CONTROL_OPS.get(req.op) ?? `op_${req.op}`), rep.status === PortControlStatus.OK, rep.error_code),
    serial: true,
    decode: (f) => wire.PortControlRequest.decode(f),
    encode: (r) => wire.PortControlResponse.encode(r),
    handle: (r) => portControl.handle(r),
    errorReply: (reason) => ({ status: PortControlStatus.ERROR, error_code: EBADMSG, error_code_source: reason }),
  };
}

export function statsEndpoint(handle: (r: StatsRequest) => Promise<StatsResponse>): ZmqEndpoint<StatsRequest, StatsResponse> {
  return {
    name: 'stats',
    key: 'stats',
    label: (req, rep) => ({ op: req ? 'stats' : 'undecodable', result: STATS_RESULTS.get(rep.status) ?? `status_${rep.status}` }),
    decode: (f) => wire.StatsRequest.decode(f),
    encode: (r) => wire.StatsResponse.encode(r),
    handle,
    errorReply: () => ({ status: StatsStatus.EBADR, relay: [], worker: [] }),
  };
}

export function coreSchedEndpoint(coreSched: CoreSched): ZmqEndpoint<CoreSchedRequest, CoreSchedResponse> {
  return {
    name: 'core scheduling',
    key: 'core_sched',
    label: (req, rep) => labels(req && (CORE_SCHED_OPS.get(req.op) ?? `op_${req.op}`), rep.status === CoreSchedStatus.OK, rep.error_code),
    serial: true,
    decode: (f) => wire.CoreSchedRequest.decode(f),
    encode: (r) => wire.CoreSchedResponse.encode(r),
    handle: (r) => coreSched.handle(r),
    errorReply: (reason) => ({ status: CoreSchedStatus.ERROR, error_code: EBADMSG, error_code_source: reason, eal_cores: [] }),
  };
}

export function configEndpoint(coreSched: CoreSched): ZmqEndpoint<ConfigRequest, ConfigResponse> {
  return {
    name: 'config',
    key: 'config',
    label: (req, rep) => ({ op: req ? 'relay_cpu_map' : 'undecodable', result: rep.status === ConfigStatus.OK ? 'ok' : 'EBADR' }),
    serial: true,
    decode: (f) => wire.ConfigRequest.decode(f),
    encode: (r) => wire.ConfigResponse.encode(r),
    handle: () => coreSched.relayCpuMap(),
    errorReply: () => ({ status: ConfigStatus.EBADR, relay_cpu_map: [] }),
  };
}
