/**
 * The options of `openStore`: their types, one `defaults` object, and one schema (`STORE_OPTIONS`)
 * checked once at open, which reports every bad key at once (`ConfigError`); combinations the
 * schema cannot say (a `writeBatchSize` above `cacheSize`, or with no cache at all) are refused here
 * too. The tuning keys and their combinations are shared with a job's `stores` (`store-schema.ts`).
 */
import { ConfigError } from '../util/errors.js';
import { Codec, compile, definedOnly, Type, WithMethods } from '../util/schema.js';
import type { CacheBudget } from './cache-budget.js';
import type { EngineKind } from './engines/engine-kinds.js';
import type { Serde } from './serdes.js';
import {
  cacheLimits,
  DEFAULT_CACHE_BYTES,
  hasCache,
  STORE_TUNING,
  storeCombinationProblems,
} from './store-schema.js';
import type { ChangelogSink } from './types.js';

export interface StoreOptions<K, V> {
  /** Used in errors and metrics. Default: the directory's name, or `"store"`. */
  readonly name?: string;
  /** The store's directory; required by `lmdb` and `rocksdb`. */
  readonly dir?: string;
  /**
   * Default `lmdb`. `memory` holds everything in process memory; with a `dir` and a changelog it
   * keeps local snapshot files there (see `snapshotMs`), otherwise nothing survives close.
   */
  readonly engine?: EngineKind;
  readonly key: Serde<K>;
  readonly value: Serde<V>;
  /**
   * Bytes the write-back cache keeps: each entry counts its key and value bytes plus a fixed
   * overhead (`CACHE_ENTRY_OVERHEAD`, `CACHE_VALUE_OVERHEAD`: what an entry costs the heap beyond them); 0 turns the cache
   * off. Default 8 MiB, and no cache with the `memory` engine (its reads cost a hash probe, less
   * than the cache's own bookkeeping; set it to coalesce the changelog records of hot keys between
   * commits).
   */
  readonly cacheBytes?: number;
  /**
   * Deprecated, use `cacheBytes`: entries the cache keeps (0 turns it off). Alone, it bounds the
   * entries and not their bytes, as it always did; with `cacheBytes`, both bound.
   */
  readonly cacheSize?: number;
  /**
   * A memory budget shared by the caches of many stores (`new CacheBudget(bytes)`): when their total
   * passes it, the cache that inserts evicts its own least recently used entries (writing its dirty
   * ones down first) until the total is back under it. Default: none.
   */
  readonly cacheBudget?: CacheBudget;
  /**
   * Dirty cache entries written down as one batch once reached. Default 1,000 (≤ cacheSize).
   */
  readonly writeBatchSize?: number;
  /** Where every write is logged; `false` (the default) for none. */
  readonly changelog?: ChangelogSink | false;
  /** Entries expire this long after their last write. Default: never. */
  readonly ttlMs?: number;
  /** Largest key + value in bytes. Default 1 MiB. */
  readonly maxRecordBytes?: number;
  /** The clock of the TTL (ms). Default `Date.now`. */
  readonly now?: () => number;
  /** `memory` engine only: keys expected, to size its index up front. */
  readonly expectedKeys?: number;
  /**
   * `memory` engine with a `dir` and a changelog only: the least time between two local snapshot
   * files, each written in the background at a commit (0: at every commit), so a restart loads
   * the snapshot and replays only the changelog after it. `false` keeps no snapshot (a restart
   * replays the whole changelog). Default 10,000 ms.
   */
  readonly snapshotMs?: number | false;
}

export const defaults = {
  engine: 'lmdb' as EngineKind,
  /** Of `lmdb` and `rocksdb` stores; `memory` stores have no cache by default (`cacheLimits`). */
  cacheBytes: DEFAULT_CACHE_BYTES,
  writeBatchSize: 1_000,
  snapshotMs: 10_000,
  maxRecordBytes: 1 << 20,
  now: Date.now,
};

/** The options after validation, defaults filled in. */
export interface ResolvedStoreOptions<K, V> {
  readonly name: string;
  readonly dir: string | undefined;
  readonly engine: EngineKind;
  readonly key: Serde<K>;
  readonly value: Serde<V>;
  /** Most cache entries (`Infinity`: no limit by count; 0: no cache). */
  readonly cacheSize: number;
  /** Most cache bytes (`Infinity`: no limit by bytes; 0: no cache). */
  readonly cacheBytes: number;
  readonly cacheBudget: CacheBudget | undefined;
  readonly writeBatchSize: number;
  readonly changelog: ChangelogSink | undefined;
  readonly ttlMs: number | undefined;
  readonly maxRecordBytes: number;
  readonly now: () => number;
  readonly expectedKeys: number | undefined;
  /** Snapshot interval of a `memory` engine store with a dir and a changelog; undefined: none. */
  readonly snapshotMs: number | undefined;
}

export const STORE_OPTIONS = compile(
  Type.Object(
    {
      name: Type.Optional(Type.String({ minLength: 1 })),
      dir: Type.Optional(Type.String({ minLength: 1, expected: 'a non-empty path' })),
      key: Codec(),
      value: Codec({ expected: 'a serde ({ encode, decode }), e.g. serdes.json()' }),
      changelog: Type.Optional(
        Type.Union([Type.Literal(false), WithMethods<ChangelogSink>(['send', 'flush'])], {
          expected: 'a ChangelogSink ({ send, flush }) or false',
        }),
      ),
      now: Type.Optional(Type.Function([], Type.Number(), { expected: 'a function returning ms' })),
      cacheBudget: Type.Optional(
        WithMethods<CacheBudget>(['charge', 'settle'], {
          expected: 'a CacheBudget (new CacheBudget(bytes))',
        }),
      ),
      ...STORE_TUNING,
    },
    { additionalProperties: false },
  ),
);

export function resolveStoreOptions<K, V>(options: StoreOptions<K, V>): ResolvedStoreOptions<K, V> {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('store options', [
      'options: expected an object with at least key and value serdes',
    ]);
  }
  const problems = STORE_OPTIONS.problems(options);
  const o = definedOnly(options);
  const engine = o.engine ?? defaults.engine;
  if (o.dir === undefined && engine !== 'memory') {
    problems.push(`dir: the ${String(engine)} engine keeps its data on disk and needs a directory`);
  }
  const limits = cacheLimits(o, engine);
  problems.push(...storeCombinationProblems(o, limits, '', engine));
  if (o.cacheBudget !== undefined && !hasCache(limits)) {
    problems.push('cacheBudget: this store has no cache (set cacheBytes to give it one)');
  }
  if (o.now !== undefined && o.ttlMs === undefined)
    problems.push('now: is the clock of the TTL; set ttlMs too');
  if (problems.length > 0)
    throw new ConfigError(`options of store ${JSON.stringify(o.name ?? o.dir ?? '')}`, problems);
  const changelog = o.changelog === false || o.changelog === undefined ? undefined : o.changelog;
  const snapshots =
    engine === 'memory' && o.dir !== undefined && changelog !== undefined && o.snapshotMs !== false;
  return {
    name: o.name ?? o.dir?.split(/[\\/]/).filter(Boolean).pop() ?? 'store',
    dir: o.dir,
    engine,
    key: options.key,
    value: options.value,
    cacheSize: hasCache(limits) ? limits.entries : 0,
    cacheBytes: hasCache(limits) ? limits.bytes : 0,
    cacheBudget: o.cacheBudget,
    writeBatchSize:
      o.writeBatchSize ??
      (limits.entries >= 1 ? Math.min(defaults.writeBatchSize, limits.entries) : defaults.writeBatchSize),
    changelog,
    ttlMs: o.ttlMs,
    maxRecordBytes: o.maxRecordBytes ?? defaults.maxRecordBytes,
    now: o.now ?? defaults.now,
    expectedKeys: o.expectedKeys,
    snapshotMs: snapshots ? ((o.snapshotMs as number | undefined) ?? defaults.snapshotMs) : undefined,
  };
}
