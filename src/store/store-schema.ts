/**
 * The tuning keys of a store (engine, cache, batch, TTL, record size) as schemas, and the
 * combinations of them that cannot work; shared by `openStore` (`store-options.ts`) and a job's
 * `stores` (`runtime/job.ts`). Imports no engine.
 */
import { Type } from '../util/schema.js';
import { ENGINE_KINDS } from './engines/engine-kinds.js';

/** The tuning keys of a store, shared by `openStore` and a job's `stores`. */
export const STORE_TUNING = {
  engine: Type.Optional(Type.Union(ENGINE_KINDS.map((k) => Type.Literal(k)))),
  /** Deprecated for `cacheBytes`: the most entries the cache keeps (0: no cache). */
  cacheSize: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  /** The most bytes the cache keeps: key + value + a fixed overhead per entry (0: no cache). */
  cacheBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  writeBatchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
  ttlMs: Type.Optional(Type.Number({ exclusiveMinimum: 0, expected: 'a number of milliseconds > 0' })),
  maxRecordBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
  /** The memory engine: keys to size its index for. */
  expectedKeys: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  /** The memory engine: how often a local snapshot may be written (ms), or false for none. */
  snapshotMs: Type.Optional(
    Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.Literal(false)], {
      expected: 'an integer of ms >= 0, or false',
    }),
  ),
};

/** The cache of a store `lmdb` and `rocksdb` get when neither `cacheBytes` nor `cacheSize` is set. */
export const DEFAULT_CACHE_BYTES = 8 << 20;

/** A cache's limits: most entries and most bytes (`Infinity`: no such limit; either 0: no cache). */
export interface CacheLimits {
  readonly entries: number;
  readonly bytes: number;
}

/**
 * The cache limits of a store's keys: `cacheBytes` bounds bytes (and `cacheSize`, when also given,
 * entries); `cacheSize` alone bounds entries only (as before `cacheBytes` existed); neither gives
 * `DEFAULT_CACHE_BYTES` on `lmdb` and `rocksdb`, and no cache on `memory` (see `buildStack`).
 */
export function cacheLimits(o: { cacheSize?: unknown; cacheBytes?: unknown }, engine: unknown): CacheLimits {
  const size = typeof o.cacheSize === 'number' ? o.cacheSize : undefined;
  const bytes = typeof o.cacheBytes === 'number' ? o.cacheBytes : undefined;
  const none = Number.POSITIVE_INFINITY;
  if (bytes !== undefined) return { entries: size ?? none, bytes };
  if (size !== undefined) return { entries: size, bytes: none };
  return engine === 'memory' ? { entries: 0, bytes: 0 } : { entries: none, bytes: DEFAULT_CACHE_BYTES };
}

/** Whether limits leave a cache at all. */
export function hasCache(limits: CacheLimits): boolean {
  return limits.entries > 0 && limits.bytes > 0;
}

/**
 * The combinations of store keys that cannot work, as problem lines (keys prefixed with `at`):
 * `writeBatchSize` without a cache, or above `cacheSize` (Samza: "cache.size cannot be less than
 * batch.size").
 */
export function storeCombinationProblems(
  o: { cacheSize?: unknown; writeBatchSize?: unknown; expectedKeys?: unknown; snapshotMs?: unknown },
  limits: CacheLimits,
  at = '',
  engine: unknown = 'lmdb',
): string[] {
  const problems: string[] = [];
  if (o.expectedKeys !== undefined && engine !== 'memory') {
    problems.push(
      `${at}expectedKeys: sizes the memory engine's index; the ${String(engine)} engine has none`,
    );
  }
  if (o.snapshotMs !== undefined && o.snapshotMs !== false && engine !== 'memory') {
    problems.push(
      `${at}snapshotMs: the ${String(engine)} engine keeps its data on disk itself; only memory takes snapshots`,
    );
  }
  return [...problems, ...batchProblems(o, limits, at)];
}

function batchProblems(o: { writeBatchSize?: unknown }, limits: CacheLimits, at: string): string[] {
  const batch = o.writeBatchSize;
  if (typeof batch !== 'number' || !(limits.entries >= 0 && limits.bytes >= 0)) return [];
  if (limits.entries === 0) {
    return [`${at}writeBatchSize: has no effect with cacheSize 0 (no cache); remove one of them`];
  }
  if (limits.bytes === 0) {
    return [`${at}writeBatchSize: has no effect with cacheBytes 0 (no cache); remove one of them`];
  }
  if (Number.isInteger(limits.entries) && batch > limits.entries) {
    return [
      `${at}writeBatchSize: ${batch} is more than cacheSize ${limits.entries}; cacheSize cannot be less than writeBatchSize (raise cacheSize or lower writeBatchSize)`,
    ];
  }
  return [];
}
