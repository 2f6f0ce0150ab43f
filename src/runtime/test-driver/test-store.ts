/**
 * A task's store in the test driver: the real store stack (`openStore`) on the memory engine, with
 * the job's store options (serdes, cache size, TTL, record size) and an in-memory changelog, so a
 * test sees what production's stack does — the write-back cache included: writes reach the
 * changelog at flush. The TTL's clock is the driver's fake clock.
 */
import { MemoryChangelogSink } from '../../store/memory-changelog-sink.js';
import { openStore } from '../../store/open-store.js';
import type { Serde } from '../../store/serdes.js';
import { type CacheLimits, cacheLimits, hasCache } from '../../store/store-schema.js';
import type { KeyValueStore } from '../../store/types.js';
import type { JobDefinition } from '../job.js';

/** A store of one task and its changelog partition (undefined with `changelog: false`). */
export interface TestStore {
  readonly store: KeyValueStore<unknown, unknown>;
  readonly sink: MemoryChangelogSink | undefined;
}

/** Opens partition `partition` of store `name` of the job, as the container would, in memory. */
export async function openTestStore(
  name: string,
  partition: number,
  spec: JobDefinition['stores'][string],
  now: () => number,
): Promise<TestStore> {
  const sink = spec.changelog ? new MemoryChangelogSink() : undefined;
  const store = await openStore({
    name: `${name}/${partition}`,
    engine: 'memory',
    key: spec.key as Serde<unknown>,
    value: spec.value as Serde<unknown>,
    // the cache the job's own engine would get (the test driver always runs on memory)
    ...cacheOptions(cacheLimits(spec, spec.engine)),
    changelog: sink ?? false,
    ...(spec.ttlMs === undefined ? {} : { ttlMs: spec.ttlMs, now }),
    ...(spec.maxRecordBytes === undefined ? {} : { maxRecordBytes: spec.maxRecordBytes }),
  });
  return { store: store as KeyValueStore<unknown, unknown>, sink };
}

function cacheOptions(limits: CacheLimits): { cacheSize?: number; cacheBytes?: number } {
  if (!hasCache(limits)) return { cacheSize: 0 };
  return {
    ...(Number.isFinite(limits.entries) ? { cacheSize: limits.entries } : {}),
    ...(Number.isFinite(limits.bytes) ? { cacheBytes: limits.bytes } : {}),
  };
}
