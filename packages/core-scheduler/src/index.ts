export * from './cli.js';
export * from './cpu-map.js';
export * from './load.js';
export * from './measure.js';
export * from './options.js';
export * from './pinner.js';
export * from './plan.js';
export * from './scheduler.js';
