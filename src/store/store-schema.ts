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
};

/**
 * The combinations of store keys that cannot work, as problem lines (keys prefixed with `at`):
 * `writeBatchSize` without a cache, or above `cacheSize` (Samza: "cache.size cannot be less than
 * batch.size").
 */
export function storeCombinationProblems(
  o: { cacheSize?: unknown; writeBatchSize?: unknown },
  cacheSize: number,
  at = '',
): string[] {
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
