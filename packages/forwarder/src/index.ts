// What other packages and tests may use of the supervisor.
export { DEFAULT_VF_TOKEN, dataplaneArgs, ealArgs } from './dataplane-process.js';
export { resolveSocketIds, socketIdArgs, type SocketIds } from './socket-owner.js';
export { StateFile } from './state-file.js';
export { IDENT_MAX_BYTES, identProblem, RelayTable, relayIdent, type RelaySpec } from './relay-table.js';
export { BASE_PAGES, PAGES_PER_RELAY, PreflightError, pciDriverProblem, pciDriversLoaded, preflight, type PlannedRelay } from './preflight.js';
export { LogLimiter } from './log-limit.js';
export { PortControl, type RelayDriver } from './port-control.js';
export { CoreSched, type CpuDriver } from './core-sched-endpoint.js';
export { ZmqServer, MAX_IN_FLIGHT, MAX_REQUEST_BYTES, type ZmqEndpoint } from './zmq-server.js';
export { configEndpoint, coreSchedEndpoint, EBADMSG, portControlEndpoint, statsEndpoint } from './endpoints.js';
export { RESTART_LIMITS, RestartPolicy, type RestartDecision, type RestartLimits } from './restart-policy.js';
export { UnpluggedRelays } from './unplugged.js';
export { BindError, bindVfioPci, type BindHost, type BindResult } from './vfio-bind.js';
export { deviceNeeds, explainDenied } from './sandbox-hint.js';
export { serverSocketReach } from './preflight.js';
export { ForwarderMetrics, type MetricsSource } from './metrics.js';
export { allowedCpus, supervisorCpus } from './affinity.js';
