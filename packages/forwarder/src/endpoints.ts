// The four ZeroMQ endpoints the supervisor serves, each its wire codec
// beside the handler that answers it.
import {
  ConfigStatus,
  CoreSchedStatus,
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
import type { ZmqEndpoint } from './zmq-server.js';

/** errno of a request that does not decode. */
export const EBADMSG = 74;

export function portControlEndpoint(portControl: PortControl): ZmqEndpoint<PortControlRequest, PortControlResponse> {
  return {
    name: 'port control',
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
    decode: (f) => wire.StatsRequest.decode(f),
    encode: (r) => wire.StatsResponse.encode(r),
    handle,
    errorReply: () => ({ status: StatsStatus.EBADR, relay: [], worker: [] }),
  };
}

export function coreSchedEndpoint(coreSched: CoreSched): ZmqEndpoint<CoreSchedRequest, CoreSchedResponse> {
  return {
    name: 'core scheduling',
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
    serial: true,
    decode: (f) => wire.ConfigRequest.decode(f),
    encode: (r) => wire.ConfigResponse.encode(r),
    handle: () => coreSched.relayCpuMap(),
    errorReply: () => ({ status: ConfigStatus.EBADR, relay_cpu_map: [] }),
  };
}
