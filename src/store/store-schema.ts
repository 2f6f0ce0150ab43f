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
  cacheSize: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
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

/**
 * The combinations of store keys that cannot work, as problem lines (keys prefixed with `at`):
 * `writeBatchSize` without a cache, or above `cacheSize` (Samza: "cache.size cannot be less than
 * batch.size").
 */
export function storeCombinationProblems(
  o: { cacheSize?: unknown; writeBatchSize?: unknown; expectedKeys?: unknown; snapshotMs?: unknown },
  cacheSize: number,
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
  return [...problems, ...batchProblems(o, cacheSize, at)];
}

function batchProblems(o: { writeBatchSize?: unknown }, cacheSize: number, at: string): string[] {
  const batch = o.writeBatchSize;
  if (typeof batch !== 'number' || !Number.isInteger(cacheSize)) return [];
  if (cacheSize === 0) {
    return [`${at}writeBatchSize: has no effect with cacheSize 0 (no cache); remove one of them`];
  }
  if (batch > cacheSize) {
    return [
      `${at}writeBatchSize: ${batch} is more than cacheSize ${cacheSize}; cacheSize cannot be less than writeBatchSize (raise cacheSize or lower writeBatchSize)`,
    ];
  }
  return [];
}
