/**
 * The key-value store's contracts: what users call (`KeyValueStore`), what every layer of the
 * stack implements (`StoreLayer`), what an engine offers (`StorageEngine`), and where changelog
 * records go (`ChangelogSink`).
 *
 * Promises of `KeyValueStore`, for every engine and every stack:
 * - Reads and writes are synchronous. A write is visible to every later read and iterator of the
 *   same store at once, flushed or not.
 * - Keys are ordered by their serialized bytes (unsigned, lexicographic). `range(from, to)` is
 *   half-open, `[from, to)`; `from >= to` yields nothing.
 * - `undefined` or `null` keys throw `InvalidKeyError`; `undefined` or `null` values throw
 *   `InvalidValueError` (use `delete`). `get` of a missing key returns `undefined`.
 * - A batch call (`putAll`, `deleteAll`) validates and encodes every entry before writing any:
 *   on error nothing of the batch is written.
 * - Iterators must be closed (`close()`, `using`, or by running them to the end); an open iterator
 *   may pin engine resources. An iterator used after close throws `IteratorClosedError`.
 *   `range`/`prefix`/`all` see the store's writes made before they were created; `snapshot` is a
 *   stable view: writes made after it was created are never seen through it.
 * - After `close()` (idempotent) every call throws `StoreClosedError`.
 */

/** One key and its value. */
export interface Entry<K, V> {
  readonly key: K;
  readonly value: V;
}

/** An ordered, closable iterator over entries. Iterable once; `using` closes it. */
export interface KeyValueIterator<K, V> extends IterableIterator<Entry<K, V>>, Disposable {
  /** Releases the iterator's resources. Idempotent. */
  close(): void;
}

export interface KeyValueStore<K, V> {
  /** The store's name, used in errors and metrics. */
  readonly name: string;
  readonly isOpen: boolean;

  get(key: K): V | undefined;
  /** The entries of the keys that exist; missing keys are absent from the map. */
  getAll(keys: Iterable<K>): Map<K, V>;
  /** Inserts or replaces. */
  put(key: K, value: V): void;
  putAll(entries: Iterable<readonly [K, V]>): void;
  /** Removes the key (a tombstone reaches the changelog). Deleting a missing key is allowed. */
  delete(key: K): void;
  deleteAll(keys: Iterable<K>): void;

  /** Entries with `from <= key < to`, in key order. */
  range(from: K, to: K): KeyValueIterator<K, V>;
  /** Entries whose serialized key starts with the serialized `prefix`. */
  prefix(prefix: K): KeyValueIterator<K, V>;
  /** Every entry, in key order. */
  all(): KeyValueIterator<K, V>;
  /** Entries with `from <= key < to` as they are now, unaffected by later writes. */
  snapshot(from: K, to: K): KeyValueIterator<K, V>;

  /** Writes every buffered write to the engine and the changelog; resolves when both hold it. */
  flush(): Promise<void>;
  /** Flushes, then releases the engine. Idempotent. */
  close(): Promise<void>;
}

/** A put (`value` set) or a delete (`value === null`) in a batch. */
export interface WriteOp<K, V> {
  readonly key: K;
  readonly value: V | null;
}

/**
 * What every layer of the stack implements: the user API plus a batched write, used by the cache
 * to hand its dirty entries down in one batch. Bounds of `range`/`snapshot` may be `undefined` in
 * a layer (unbounded), which `all()` and `prefix()` use.
 */
export interface StoreLayer<K, V> extends KeyValueStore<K, V> {
  /** Applies the ops in order, as one batch. */
  write(ops: readonly WriteOp<K, V>[]): void;
}

/** A record of a store's changelog: a put, or a delete when `value` is null (a tombstone). */
export interface ChangelogRecord {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/**
 * Where the logged layer sends changelog records. The runtime provides one over a log partition;
 * tests use `MemoryChangelogSink`.
 */
export interface ChangelogSink {
  /** Queues records in order; returns at once. */
  send(records: readonly ChangelogRecord[]): void;
  /**
   * Optional, the single-record fast path: queues one record as `send([{ key, value }])` does,
   * without the array and the record object (the logged layer's `put`/`delete` use it).
   */
  sendOne?(key: Uint8Array, value: Uint8Array | null): void;
  /**
   * Resolves when every record sent so far is durable in the changelog, with the offset of the
   * last record sent so far (undefined if none was ever sent).
   */
  flush(): Promise<number | undefined>;
}

/** A key and value of an engine, as bytes. */
export interface EngineEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** A pull iterator over an engine range. `next()` returns undefined at the end. */
export interface EngineCursor {
  next(): EngineEntry | undefined;
  /** Releases the cursor (read transaction, native iterator). Idempotent. */
  close(): void;
}

/** What an engine can do, declared; tests and layers branch on these, never on names. */
export interface EngineSupports {
  /** Data survives close and reopen. */
  readonly persistent: boolean;
}

/**
 * Puts and deletes as byte spans of one buffer (a restore's decoded changelog records), with no
 * object per op. Op i (`0 <= i < count`) puts `buf[valueStart[i], valueStart[i] + valueLength[i])`
 * at the key `buf[keyStart[i], keyStart[i] + keyLength[i])`, or deletes that key when
 * `valueLength[i]` is -1; an op whose `keyLength[i]` is -1 (no key) is skipped. The arrays may be
 * longer than `count`. The log's `RecordSpans` is one.
 */
export interface SpanBatch {
  readonly buf: Uint8Array;
  readonly count: number;
  readonly keyStart: Int32Array;
  readonly keyLength: Int32Array;
  readonly valueStart: Int32Array;
  readonly valueLength: Int32Array;
}

/**
 * A storage engine: bytes in, bytes out, sorted by unsigned byte order. Plain: no cache, no
 * changelog, no metrics and no serdes here.
 *
 * - Reads are synchronous. Returned byte arrays belong to the caller (not reused by the engine).
 * - `write` applies its ops and, when given, the metadata in one atomic transaction: after a crash
 *   either all of it is there or none.
 * - `range(from, to)` is `[from, to)` in byte order; `undefined` bounds are open.
 * - `snapshot(from, to)` sees the data as of the call, whatever is written afterwards.
 */
export interface StorageEngine {
  readonly kind: string;
  readonly supports: EngineSupports;

  get(key: Uint8Array): Uint8Array | undefined;
  write(ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array): void;
  range(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor;
  snapshot(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor;
  /** The metadata last written with `write`, kept apart from the keys (no range ever shows it). */
  readMeta(): Uint8Array | undefined;
  /** Removes every key and the metadata. */
  clear(): void;
  /** Resolves when everything written is durable on disk (no-op for memory). */
  flush(): Promise<void>;
  /**
   * Optional, the single-op fast path: `put(k, v, meta)` does what `write([{ key: k, value: v }],
   * meta)` does, and `delete(k, meta)` what `write([{ key: k, value: null }], meta)` does, without
   * the batch array and op object (the store's `put`/`delete` use them when present).
   */
  put?(key: Uint8Array, value: Uint8Array, meta?: Uint8Array): void;
  delete?(key: Uint8Array, meta?: Uint8Array): void;
  /** Optional: whether `key` is held, without copying its value out (else a `get` answers). */
  has?(key: Uint8Array): boolean;
  /**
   * Optional: throws `InvalidKeyError` for a key the engine cannot store (the check `write` makes),
   * so a store that holds writes before they reach the engine refuses a bad key when it is written.
   */
  checkKey?(key: Uint8Array): void;
  /** Optional: how many keys the engine holds, in constant time (the store's insert/update counts). */
  keyCount?(): number;
  /**
   * Optional, the bulk path of a restore: applies `batches` (puts and deletes as byte spans, see
   * {@link SpanBatch}) in order and then the metadata, atomically, as `write` does with ops. No
   * object per op; the store falls back to `write` when an engine lacks it.
   */
  writeSpans?(batches: readonly SpanBatch[], meta?: Uint8Array): void;
  /**
   * Optional. The store calls it right after it recorded in the metadata that the engine holds a
   * state its changelog fully covers (a commit point): an engine that keeps local copies in the
   * background (the memory engine's snapshot files) may start one here. Returns at once.
   * `durable`, when given, settles once the commit that holds this point is over: true when it is
   * durable (a checkpoint covers the marker), false when it failed. A copy taken here must not be
   * published before it is true: until then the marker may be ahead of every checkpoint (an
   * exactly-once transaction not committed yet), and a restart would have to rebuild the store.
   */
  commitPoint?(durable?: Promise<boolean>): void;
  /**
   * Optional, with `settle`: `write(ops, meta)` done on another thread, so the caller's thread
   * goes on meanwhile. Returns at once (a bad key throws here, nothing written); the promise
   * resolves once the transaction is committed and durable, and rejects when it failed (nothing
   * written). Until it settles, reads see the state before it or, once committed, after it: a
   * caller that needs its ops readable keeps them itself until then. One at a time: a second
   * call, and every synchronous write, `clear` and `close`, first waits for the one in flight, so
   * writes land in the order they were made.
   */
  writeInBackground?(ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array): Promise<void>;
  /**
   * Blocks until the background write in flight (if any) is over, so reads see it; throws
   * `EngineError` when it failed.
   */
  settle?(): void;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Opens an engine in a directory (ignored by the memory engine). */
export type EngineFactory = (options: { dir?: string; name: string }) => StorageEngine;
