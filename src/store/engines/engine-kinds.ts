/** The storage engines' names (no engine is loaded by importing this). */
export const ENGINE_KINDS = ['memory', 'lmdb', 'rocksdb'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];
