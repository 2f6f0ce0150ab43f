/**
 * Eddy's public API. Everything a user imports comes from here; each layer's `index.ts` is that
 * layer's public face.
 */

export type * from './log/types.js';
export { TOPIC_DEFAULTS } from './log/types.js';
export type * from './store/types.js';
export * from './util/errors.js';
export { murmur2, partitionForKey, toPositive } from './util/murmur2.js';
