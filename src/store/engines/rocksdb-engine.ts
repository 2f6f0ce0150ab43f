/**
 * The `rocksdb` storage engine: an LSM tree (RocksDB, Samza's default engine), through the native
 * binding of `@nxtedition/rocksdb` (pinned to an exact version in package.json).
 *
 * Why that package: Eddy's engines must read synchronously. `@nxtedition/rocksdb` is maintained,
 * ships a linux-x64 prebuild (no compiler needed), and its native layer has synchronous MultiGet
 * (`db_get_many_sync`), synchronous write batches (`batch_write`), synchronous iterator reads
 * (`iterator_nextv_sync`) and column families. Its JS face is the async `abstract-level` API, so
 * this file calls the native binding (`@nxtedition/rocksdb/binding.js`) directly; the exact version
 * pin and the engine conformance suite guard that surface. (`@harperfast/rocksdb-js` has a sync API
 * too but its main package is not on the registry, only its platform binaries; `rocksdb-native`
 * is async only.)
 *
 * Layout: one RocksDB database per store in `<dir>`, with two column families: `default` holds the
 * store's keys, `eddy-meta` holds the metadata record. `write(ops, meta)` puts the ops and the meta
 * in ONE RocksDB WriteBatch (spanning both column families), which RocksDB applies atomically, WAL
 * included. Ranges only read `default`, so the metadata never shows.
 *
 * Durability: every `write` goes through the write-ahead log with `sync: false`: the batch is in the
 * WAL file (OS page cache) when `write` returns, so it survives a process kill (SIGKILL); after a
 * power loss RocksDB recovers to a consistent point in time (never a torn batch), possibly without
 * the last writes, which the changelog restores. `flush()` writes a marker into `eddy-meta` with
 * `sync: true`, which fsyncs the WAL and so makes every earlier write durable.
 *
 * Corner cases:
 * - Opening is asynchronous (RocksDB's open runs on the thread pool): `RocksDbEngine.open()` returns
 *   a promise. Everything after is synchronous.
 * - Empty keys are valid. Values returned are copies owned by the caller.
 * - A cursor wraps a RocksDB iterator, which is a consistent point-in-time view: `range` and
 *   `snapshot` are both stable. Entries are fetched in growing batches (16 up to 1024) so a short
 *   prefix scan does not read a thousand entries. Cursors still open at `close()` are closed by it.
 * - `clear()` first deletes the metadata, then the keys (a DeleteRange over every key that does not
 *   start with more than a megabyte of 0xff bytes). A crash between the two leaves data without
 *   metadata, which the restore treats as unknown and rebuilds: never metadata over missing data.
 * - After `close()` (idempotent) every call throws `StoreClosedError`.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { asBuffer, compareBytes } from '../../util/bytes.js';
import { EngineError, StoreClosedError } from '../../util/errors.js';
import type { EngineCursor, EngineEntry, EngineSupports, StorageEngine, WriteOp } from '../types.js';

/** The part of the `@nxtedition/rocksdb` native binding this engine uses. Handles are opaque. */
interface RocksBinding {
  db_init(location: string): unknown;
  db_open(
    db: unknown,
    options: object,
    callback: (err: Error | null, columns: Record<string, unknown>) => void,
  ): void;
  db_close(db: unknown, callback: (err: Error | null) => void): void;
  db_get_many_sync(db: unknown, keys: Buffer[], options: object): (Buffer | undefined | null)[];
  db_clear(db: unknown, options: object): void;
  iterator_init(db: unknown, options: object): unknown;
  iterator_nextv_sync(it: unknown, count: number): { rows: Buffer[]; finished: boolean };
  iterator_close(it: unknown): void;
  batch_init(): unknown;
  batch_put(batch: unknown, key: Buffer, value: Buffer, options: object): void;
  batch_del(batch: unknown, key: Buffer, options: object): void;
  batch_clear(batch: unknown): void;
  batch_write(db: unknown, batch: unknown, options: object): void;
}

let loaded: RocksBinding | undefined;
/** Loads the native binding on first use, so importing the engine registry does not load RocksDB. */
function binding(): RocksBinding {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('@nxtedition/rocksdb/binding.js') as RocksBinding;
    } catch (err) {
      throw new EngineError(
        `the rocksdb engine needs the @nxtedition/rocksdb package and its prebuilt binary for ${process.platform}-${process.arch}: ${String(err)}`,
        { cause: err },
      );
    }
  }
  return loaded;
}

const META_COLUMN = 'eddy-meta';
const META_KEY = Buffer.from('meta');
const SYNC_MARKER_KEY = Buffer.from('synced');
const EMPTY = Buffer.alloc(0);
const NO_OPTIONS = {};
const NO_SYNC = { sync: false };
const SYNC = { sync: true };
const FIRST_BATCH = 16;
const MAX_BATCH = 1024;
const SUPPORTS: EngineSupports = { persistent: true };

export interface RocksDbEngineOptions {
  /** The store's directory (the RocksDB database); created when missing. */
  readonly dir: string;
  /** The store's name, for error messages. */
  readonly name: string;
  /** Block cache size in bytes (RocksDB's default when unset). */
  readonly cacheSize?: number;
}

/** A cursor over one RocksDB iterator, read in growing batches. */
class RocksCursor implements EngineCursor {
  #it: unknown;
  #rows: Buffer[] = [];
  #at = 0;
  #finished = false;
  #batch = FIRST_BATCH;
  readonly #owner: Set<RocksCursor> | undefined;
  readonly #rocks: RocksBinding | undefined;

  constructor(rocks: RocksBinding | undefined, it: unknown, owner: Set<RocksCursor> | undefined) {
    this.#rocks = rocks;
    this.#it = it;
    this.#owner = owner;
  }

  next(): EngineEntry | undefined {
    if (this.#at >= this.#rows.length) {
      if (this.#finished || this.#it === undefined || this.#rocks === undefined) {
        this.close();
        return undefined;
      }
      const { rows, finished } = this.#rocks.iterator_nextv_sync(this.#it, this.#batch);
      if (this.#batch < MAX_BATCH) this.#batch *= 4;
      this.#rows = rows;
      this.#at = 0;
      this.#finished = finished;
      if (rows.length === 0) {
        this.close();
        return undefined;
      }
    }
    const key = this.#rows[this.#at];
    const value = this.#rows[this.#at + 1];
    this.#at += 2;
    return { key, value };
  }

  close(): void {
    const it = this.#it;
    this.#rows = [];
    this.#at = 0;
    this.#finished = true;
    if (it === undefined) return;
    this.#it = undefined;
    this.#owner?.delete(this);
    this.#rocks?.iterator_close(it);
  }
}

const EMPTY_CURSOR: EngineCursor = new RocksCursor(undefined, undefined, undefined);

export class RocksDbEngine implements StorageEngine {
  readonly kind = 'rocksdb';
  readonly supports = SUPPORTS;
  readonly name: string;
  readonly dir: string;

  readonly #rocks: RocksBinding;
  #db: unknown;
  readonly #metaColumn: { column: unknown };
  readonly #batch: unknown;
  readonly #cursors = new Set<RocksCursor>();
  #closing: Promise<void> | undefined;

  private constructor(name: string, dir: string, rocks: RocksBinding, db: unknown, metaColumn: unknown) {
    this.name = name;
    this.dir = dir;
    this.#rocks = rocks;
    this.#db = db;
    this.#metaColumn = { column: metaColumn };
    this.#batch = rocks.batch_init();
  }

  /** Opens (creating when missing) the database in `options.dir`. */
  static async open(options: RocksDbEngineOptions): Promise<RocksDbEngine> {
    const rocks = binding();
    const { dir, name } = options;
    const columnOptions = options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize };
    try {
      mkdirSync(dir, { recursive: true });
      const db = rocks.db_init(dir);
      const columns = await new Promise<Record<string, unknown>>((resolve, reject) => {
        rocks.db_open(
          db,
          {
            createIfMissing: true,
            errorIfExists: false,
            parallelism: 2,
            ...columnOptions,
            columns: { default: columnOptions, [META_COLUMN]: {} },
          },
          (err, cols) => (err ? reject(err) : resolve(cols)),
        );
      });
      return new RocksDbEngine(name, dir, rocks, db, columns[META_COLUMN]);
    } catch (err) {
      throw new EngineError(`cannot open the rocksdb store "${name}" at ${dir}: ${String(err)}`, {
        cause: err,
        retriable: /lock/i.test(String(err)),
      });
    }
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const db = this.#check();
    return this.#rocks.db_get_many_sync(db, [asBuffer(key)], NO_OPTIONS)[0] ?? undefined;
  }

  write(ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array): void {
    const db = this.#check();
    if (ops.length === 0 && meta === undefined) return;
    const rocks = this.#rocks;
    const batch = this.#batch;
    try {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        if (op.value === null) rocks.batch_del(batch, asBuffer(op.key), NO_OPTIONS);
        else rocks.batch_put(batch, asBuffer(op.key), asBuffer(op.value), NO_OPTIONS);
      }
      if (meta !== undefined) rocks.batch_put(batch, META_KEY, asBuffer(meta), this.#metaColumn);
      rocks.batch_write(db, batch, NO_SYNC);
    } catch (err) {
      throw new EngineError(
        `rocksdb store "${this.name}": the write of ${ops.length} ops failed, nothing was written`,
        {
          cause: err,
        },
      );
    } finally {
      rocks.batch_clear(batch);
    }
  }

  range(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor {
    const db = this.#check();
    if (to !== undefined && from !== undefined && compareBytes(from, to) >= 0) return EMPTY_CURSOR;
    if (to !== undefined && to.length === 0) return EMPTY_CURSOR;
    const options: { keyEncoding: string; valueEncoding: string; gte?: Buffer; lt?: Buffer } = {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    };
    if (from !== undefined && from.length > 0) options.gte = asBuffer(from);
    if (to !== undefined) options.lt = asBuffer(to);
    let it: unknown;
    try {
      it = this.#rocks.iterator_init(db, options);
    } catch (err) {
      throw new EngineError(`rocksdb store "${this.name}": cannot open an iterator`, { cause: err });
    }
    const cursor = new RocksCursor(this.#rocks, it, this.#cursors);
    this.#cursors.add(cursor);
    return cursor;
  }

  snapshot(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor {
    // A RocksDB iterator reads one consistent point in time: it is a snapshot already.
    return this.range(from, to);
  }

  readMeta(): Uint8Array | undefined {
    const db = this.#check();
    return this.#rocks.db_get_many_sync(db, [META_KEY], this.#metaColumn)[0] ?? undefined;
  }

  clear(): void {
    const db = this.#check();
    const rocks = this.#rocks;
    const batch = this.#batch;
    try {
      // Metadata first: a crash in between leaves keys without metadata, never the reverse.
      rocks.batch_del(batch, META_KEY, this.#metaColumn);
      rocks.batch_write(db, batch, SYNC);
      rocks.batch_clear(batch);
      rocks.db_clear(db, NO_OPTIONS);
    } catch (err) {
      throw new EngineError(`rocksdb store "${this.name}": clear failed`, { cause: err });
    } finally {
      rocks.batch_clear(batch);
    }
  }

  async flush(): Promise<void> {
    const db = this.#check();
    const rocks = this.#rocks;
    const batch = this.#batch;
    try {
      // A synced write fsyncs the WAL, and with it every earlier write.
      rocks.batch_put(batch, SYNC_MARKER_KEY, EMPTY, this.#metaColumn);
      rocks.batch_write(db, batch, SYNC);
    } catch (err) {
      throw new EngineError(`rocksdb store "${this.name}": sync to disk failed`, { cause: err });
    } finally {
      rocks.batch_clear(batch);
    }
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      const db = this.#db;
      this.#db = undefined;
      for (const cursor of [...this.#cursors]) cursor.close();
      this.#closing =
        db === undefined
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              this.#rocks.db_close(db, (err) =>
                err
                  ? reject(new EngineError(`rocksdb store "${this.name}": close failed`, { cause: err }))
                  : resolve(),
              );
            });
    }
    return this.#closing;
  }

  #check(): unknown {
    const db = this.#db;
    if (db === undefined) throw new StoreClosedError(this.name);
    return db;
  }
}
