// The log layer's public face: re-exports only.
export type * from './types.js';
export { TOPIC_DEFAULTS } from './types.js';
