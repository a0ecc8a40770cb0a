// What other packages and tests may use of the supervisor.
export { DEFAULT_VF_TOKEN, dataplaneArgs, ealArgs } from './dataplane-process.js';
export { resolveSocketIds, socketIdArgs, type SocketIds } from './socket-owner.js';
