// What other packages and tests may use of the supervisor.
export { DEFAULT_VF_TOKEN, dataplaneArgs, ealArgs } from './dataplane-process.js';
export { resolveSocketIds, socketIdArgs, type SocketIds } from './socket-owner.js';
export { StateFile } from './state-file.js';
export { RelayTable, type RelaySpec } from './relay-table.js';
export { BASE_PAGES, PAGES_PER_RELAY, PreflightError, pciDriverProblem, pciDriversLoaded, preflight, type PlannedRelay } from './preflight.js';
export { LogLimiter } from './log-limit.js';
