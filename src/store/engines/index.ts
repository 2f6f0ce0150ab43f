/**
 * The engine registry: opens a storage engine by kind (`memory`, `lmdb`, `rocksdb`).
 *
 * - `openEngineAsync(kind, options)` opens any kind; use it wherever a caller can await (opening a
 *   store, restoring, the CLI).
 * - `openEngine(kind, options)` is the synchronous form, for `memory` and `lmdb` only: RocksDB's
 *   open runs on the thread pool and cannot complete synchronously, so `rocksdb` here throws a
 *   `ConfigError` that names `openEngineAsync`.
 *
 * Validation: an unknown kind, a missing `dir` for a persistent engine, or an option that does not
 * belong to the kind is a `ConfigError` naming the key. `name` defaults to the kind. Engines keep
 * their own defaults; nothing here tunes them.
 */
import { ConfigError } from '../../util/errors.js';
import type { StorageEngine } from '../types.js';
import { ENGINE_KINDS, type EngineKind } from './engine-kinds.js';
import { LmdbEngine } from './lmdb-engine.js';
import { MemoryEngine } from './memory-engine.js';
import { RocksDbEngine } from './rocksdb-engine.js';
import { SnapshottedMemoryEngine } from './snapshotted-memory-engine.js';

export { ENGINE_KINDS, type EngineKind };

export interface OpenEngineOptions {
  /**
   * The store's directory; required by `lmdb` and `rocksdb`. `memory` keeps its snapshot files
   * there when `snapshotMs` is set too (and ignores it otherwise).
   */
  readonly dir?: string;
  /** The store's name, used in errors. Defaults to the kind. */
  readonly name?: string;
  /** `lmdb` only: the initial map size in bytes (the map grows on demand). */
  readonly mapSize?: number;
  /** `rocksdb` only: the block cache size in bytes. */
  readonly cacheSize?: number;
  /** `memory` only: keys expected, to size the index up front. */
  readonly expectedKeys?: number;
  /**
   * `memory` only, with `dir`: load `<dir>/memory.snapshot` on open, and write one at a commit
   * point at most every `snapshotMs` (0: at every one). See `SnapshottedMemoryEngine`.
   */
  readonly snapshotMs?: number;
}

const KNOWN_OPTIONS: Record<EngineKind, readonly string[]> = {
  memory: ['dir', 'name', 'expectedKeys', 'snapshotMs'],
  lmdb: ['dir', 'name', 'mapSize'],
  rocksdb: ['dir', 'name', 'cacheSize'],
};

export function isEngineKind(kind: unknown): kind is EngineKind {
  return typeof kind === 'string' && (ENGINE_KINDS as readonly string[]).includes(kind);
}

/** Checks the kind and options; returns the kind, or throws a ConfigError listing every problem. */
function validate(kind: unknown, options: OpenEngineOptions): EngineKind {
  if (!isEngineKind(kind)) {
    throw new ConfigError('engine', [
      `engine: unknown engine ${JSON.stringify(kind)}; use one of ${ENGINE_KINDS.join(', ')}`,
    ]);
  }
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if ((options as Record<string, unknown>)[key] === undefined) continue;
    if (!KNOWN_OPTIONS[kind].includes(key)) {
      problems.push(
        `${key}: not an option of the ${kind} engine (its options: ${KNOWN_OPTIONS[kind].join(', ')})`,
      );
    }
  }
  if (kind !== 'memory' && (typeof options.dir !== 'string' || options.dir.length === 0)) {
    problems.push(`dir: the ${kind} engine is persistent and needs a directory`);
  }
  if (kind === 'memory' && options.snapshotMs !== undefined) {
    if (!Number.isSafeInteger(options.snapshotMs) || options.snapshotMs < 0) {
      problems.push(`snapshotMs: must be an integer of ms >= 0, got ${String(options.snapshotMs)}`);
    }
    if (typeof options.dir !== 'string' || options.dir.length === 0) {
      problems.push('snapshotMs: snapshot files need a directory (dir)');
    }
  }
  if (
    options.expectedKeys !== undefined &&
    (!Number.isSafeInteger(options.expectedKeys) || options.expectedKeys < 0)
  ) {
    problems.push(`expectedKeys: must be an integer >= 0, got ${String(options.expectedKeys)}`);
  }
  for (const key of ['mapSize', 'cacheSize'] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
      problems.push(`${key}: must be a positive integer of bytes, got ${String(value)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`${kind} engine options`, problems);
  return kind;
}

/** Opens an engine of any kind. */
export async function openEngineAsync(
  kind: EngineKind | string,
  options: OpenEngineOptions = {},
): Promise<StorageEngine> {
  const checked = validate(kind, options);
  if (checked === 'rocksdb') {
    return RocksDbEngine.open({
      dir: options.dir as string,
      name: options.name ?? checked,
      ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
    });
  }
  return openChecked(checked, options);
}

/** Opens a `memory` or `lmdb` engine synchronously; `rocksdb` needs `openEngineAsync`. */
export function openEngine(kind: EngineKind | string, options: OpenEngineOptions = {}): StorageEngine {
  const checked = validate(kind, options);
  if (checked === 'rocksdb') {
    throw new ConfigError('engine', [
      'engine: "rocksdb" opens asynchronously; use `await openEngineAsync("rocksdb", options)`',
    ]);
  }
  return openChecked(checked, options);
}

function openChecked(kind: 'memory' | 'lmdb', options: OpenEngineOptions): StorageEngine {
  if (kind === 'memory') {
    const name = options.name ?? kind;
    const expectedKeys = options.expectedKeys;
    if (options.snapshotMs === undefined) return new MemoryEngine(name, { expectedKeys });
    return SnapshottedMemoryEngine.open({
      dir: options.dir as string,
      name,
      intervalMs: options.snapshotMs,
      expectedKeys,
    });
  }
  return LmdbEngine.open({
    dir: options.dir as string,
    name: options.name ?? kind,
    ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }),
  });
}

export type { LmdbEngineOptions } from './lmdb-engine.js';
export type { MemoryEngineOptions } from './memory-engine.js';
export type { RocksDbEngineOptions } from './rocksdb-engine.js';
export type { SnapshotLoad, SnapshottedMemoryEngineOptions } from './snapshotted-memory-engine.js';
export { LmdbEngine, MemoryEngine, RocksDbEngine, SnapshottedMemoryEngine };
