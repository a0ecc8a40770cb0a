export * from './config.js';
export * from './dataplane-client.js';
export * from './dataplane-protocol.js';
export * from './load.js';
export * from './logger.js';
export * from './pci.js';
export * from './wire.js';
export * from './zmq-client.js';
