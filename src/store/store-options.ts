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
  /** Default `lmdb`. `memory` keeps nothing across close. */
  readonly engine?: EngineKind;
  readonly key: Serde<K>;
  readonly value: Serde<V>;
  /** Entries the write-back cache keeps; 0 turns the cache off. Default 10,000. */
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
}

export const defaults = {
  engine: 'lmdb' as EngineKind,
  cacheSize: 10_000,
  writeBatchSize: 1_000,
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
  const cacheSize = o.cacheSize ?? defaults.cacheSize;
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
  };
}
