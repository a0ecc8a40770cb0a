export * from './cli.js';
export * from './original.js';
