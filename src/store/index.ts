// The store layer's public face: re-exports only.

export { CacheBudget } from './cache-budget.js';
export { CACHE_ENTRY_OVERHEAD, CACHE_VALUE_OVERHEAD } from './cached-store.js';
export { MemoryEngine } from './engines/memory-engine.js';
export { MemoryChangelogSink } from './memory-changelog-sink.js';
export type { StoreLatency, StoreMetrics } from './metered-store.js';
export { openStore, type RestoreRecord, type RestoreSpans, type Store } from './open-store.js';
export { type Serde, serdes } from './serdes.js';
export type { StoreOptions } from './store-options.js';
export type * from './types.js';
