// The store layer's public face: re-exports only.
export type * from './types.js';
