/**
 * Eddy's public API. Everything a user imports comes from here; each layer's `index.ts` is that
 * layer's public face.
 */
export * from './log/index.js';
export * from './runtime/index.js';
export * from './store/index.js';
export * from './util/errors.js';
export { murmur2, partitionForKey, toPositive } from './util/murmur2.js';
