export * from './cli.js';
export * from './virtioforwarder-stats.js';
