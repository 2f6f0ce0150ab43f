/**
 * The options of `openStore`: their types, one `defaults` object, and one validator that reports
 * every bad key at once (`ConfigError`) and refuses impossible combinations.
 */
import { ConfigError } from '../util/errors.js';
import { ENGINE_KINDS, type EngineKind } from './engines/index.js';
import { isSerde, type Serde } from './serdes.js';
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
   * Entries the write-back cache keeps; 0 turns the cache off. Default 10,000, and 0 with the
   * `memory` engine (its reads cost a hash probe, less than the cache's own bookkeeping; set it to
   * coalesce the changelog records of hot keys between commits).
   */
  readonly cacheSize?: number;
  /** Dirty cache entries written down as one batch once reached. Default 1,000 (≤ cacheSize). */
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
  cacheSize: 10_000,
  /** The cache of a `memory` engine store: none (see `StoreOptions.cacheSize`). */
  memoryCacheSize: 0,
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
  readonly cacheSize: number;
  readonly writeBatchSize: number;
  readonly changelog: ChangelogSink | undefined;
  readonly ttlMs: number | undefined;
  readonly maxRecordBytes: number;
  readonly now: () => number;
  readonly expectedKeys: number | undefined;
  /** Snapshot interval of a `memory` engine store with a dir and a changelog; undefined: none. */
  readonly snapshotMs: number | undefined;
}

const KNOWN = new Set([
  'name',
  'dir',
  'engine',
  'key',
  'value',
  'cacheSize',
  'writeBatchSize',
  'changelog',
  'ttlMs',
  'maxRecordBytes',
  'now',
  'expectedKeys',
  'snapshotMs',
]);

function isCount(x: unknown, min: number): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= min;
}

export function resolveStoreOptions<K, V>(options: StoreOptions<K, V>): ResolvedStoreOptions<K, V> {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('store options', [
      'options: expected an object with at least key and value serdes',
    ]);
  }
  const o = options as unknown as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) problems.push(`${key}: unknown option (known: ${[...KNOWN].join(', ')})`);
  }
  const engine = o.engine ?? defaults.engine;
  if (!(ENGINE_KINDS as readonly unknown[]).includes(engine)) {
    problems.push(`engine: must be one of ${ENGINE_KINDS.join(', ')}, got ${JSON.stringify(engine)}`);
  }
  if (o.dir !== undefined && (typeof o.dir !== 'string' || o.dir.length === 0)) {
    problems.push('dir: must be a non-empty path');
  } else if (o.dir === undefined && engine !== 'memory' && engine !== undefined) {
    problems.push(`dir: the ${String(engine)} engine keeps its data on disk and needs a directory`);
  }
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) {
    problems.push('name: must be a non-empty string');
  }
  if (!isSerde(o.key)) problems.push('key: must be a serde ({ encode, decode }), e.g. serdes.string');
  if (!isSerde(o.value)) problems.push('value: must be a serde ({ encode, decode }), e.g. serdes.json()');
  const cacheSize = o.cacheSize ?? (engine === 'memory' ? defaults.memoryCacheSize : defaults.cacheSize);
  if (!isCount(cacheSize, 0)) problems.push(`cacheSize: must be an integer >= 0, got ${String(cacheSize)}`);
  const batchDefault = isCount(cacheSize, 1)
    ? Math.min(defaults.writeBatchSize, cacheSize)
    : defaults.writeBatchSize;
  const writeBatchSize = o.writeBatchSize ?? batchDefault;
  if (!isCount(writeBatchSize, 1)) {
    problems.push(`writeBatchSize: must be an integer >= 1, got ${String(writeBatchSize)}`);
  } else if (isCount(cacheSize, 1) && cacheSize < writeBatchSize) {
    problems.push(
      `writeBatchSize: ${writeBatchSize} is more than cacheSize ${cacheSize}; cacheSize cannot be less than writeBatchSize`,
    );
  }
  if (o.writeBatchSize !== undefined && cacheSize === 0) {
    problems.push('writeBatchSize: has no effect with cacheSize 0 (no cache); remove one of them');
  }
  const changelog = o.changelog ?? false;
  if (
    changelog !== false &&
    (typeof changelog !== 'object' ||
      typeof (changelog as ChangelogSink).send !== 'function' ||
      typeof (changelog as ChangelogSink).flush !== 'function')
  ) {
    problems.push('changelog: must be a ChangelogSink ({ send, flush }) or false');
  }
  if (o.ttlMs !== undefined && !(typeof o.ttlMs === 'number' && Number.isFinite(o.ttlMs) && o.ttlMs > 0)) {
    problems.push(`ttlMs: must be a number of milliseconds > 0, got ${String(o.ttlMs)}`);
  }
  if (o.now !== undefined && typeof o.now !== 'function')
    problems.push('now: must be a function returning ms');
  if (o.now !== undefined && o.ttlMs === undefined)
    problems.push('now: is the clock of the TTL; set ttlMs too');
  const maxRecordBytes = o.maxRecordBytes ?? defaults.maxRecordBytes;
  if (!isCount(maxRecordBytes, 1)) {
    problems.push(`maxRecordBytes: must be an integer >= 1, got ${String(maxRecordBytes)}`);
  }
  if (o.expectedKeys !== undefined) {
    if (!isCount(o.expectedKeys, 0)) {
      problems.push(`expectedKeys: must be an integer >= 0, got ${String(o.expectedKeys)}`);
    } else if (engine !== 'memory') {
      problems.push(`expectedKeys: sizes the memory engine's index; the ${String(engine)} engine has none`);
    }
  }
  if (o.snapshotMs !== undefined && o.snapshotMs !== false) {
    if (!isCount(o.snapshotMs, 0)) {
      problems.push(`snapshotMs: must be an integer of ms >= 0 or false, got ${String(o.snapshotMs)}`);
    } else if (engine !== 'memory') {
      problems.push(
        `snapshotMs: the ${String(engine)} engine keeps its data on disk itself; only memory takes snapshots`,
      );
    }
  }
  const snapshots =
    engine === 'memory' && o.dir !== undefined && changelog !== false && o.snapshotMs !== false;
  if (problems.length > 0)
    throw new ConfigError(`options of store ${JSON.stringify(o.name ?? o.dir ?? '')}`, problems);
  return {
    name:
      (o.name as string | undefined) ??
      (o.dir as string | undefined)?.split(/[\\/]/).filter(Boolean).pop() ??
      'store',
    dir: o.dir as string | undefined,
    engine: engine as EngineKind,
    key: o.key as Serde<K>,
    value: o.value as Serde<V>,
    cacheSize: cacheSize as number,
    writeBatchSize: writeBatchSize as number,
    changelog: changelog === false ? undefined : (changelog as ChangelogSink),
    ttlMs: o.ttlMs as number | undefined,
    maxRecordBytes: maxRecordBytes as number,
    now: (o.now as (() => number) | undefined) ?? defaults.now,
    expectedKeys: o.expectedKeys as number | undefined,
    snapshotMs: snapshots ? ((o.snapshotMs as number | undefined) ?? defaults.snapshotMs) : undefined,
  };
}
