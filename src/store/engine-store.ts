/**
 * The bottom of the stack: a byte `StoreLayer` over a `StorageEngine`. `write(ops)` is one engine
 * batch; `put`/`delete` are batches of one (through the engine's own `put`/`delete` when it has
 * them: no array or op object per write). Tracks the open iterators and closes them on `close()`.
 *
 * It also keeps the store's changelog marker (when the store has a changelog), because the marker
 * must be written in the same engine transaction as the data:
 * - the marker `{ offset: N, clean: true }` means "the engine holds exactly the state after
 *   changelog offset N" (N = -1: before the first record);
 * - the first engine write after the marker was clean carries `{ offset: N, clean: false }` in the
 *   same transaction: from then on the engine holds writes no changelog ack covers yet;
 * - `markClean(N)` writes `{ offset: N, clean: true }` alone (the store's `commit()` calls it once
 *   the changelog acknowledged every record of every engine write so far; `writes` lets it check
 *   that no engine write slipped in while it waited), then tells the engine it holds a commit
 *   point (`commitPoint`, where the memory engine may start a snapshot file, published once the
 *   runtime says the commit is durable);
 * - `restore` batches carry `{ offset: last of the batch, clean: true }`.
 *
 * Deferred writes (`deferWrites`, for a changelogged store on an engine whose writes are on disk
 * when they return: lmdb, rocksdb): the engine never holds a write before a commit that covers it
 * is durable (`DeferredApply`, which holds them meanwhile; reads look there first), so after a
 * crash at any instant its copy is the state of a durable commit point — reused or replayed from
 * there, never rebuilt from the whole changelog. Without this, a crash after the store's part of a
 * commit (engine write and clean marker) but before the checkpoint or the exactly-once transaction
 * left the marker ahead of every checkpoint, and a write-back cache that evicted between commits
 * left it not clean: the crash test's restarts rebuilt their stores nearly every time. Keys are
 * checked against the engine's limits when written (`checkKey`), not when applied; an engine
 * failure while applying is kept and thrown by every later call and commit.
 *
 * Corner cases: after `close()` (idempotent) every call throws `StoreClosedError`, and open
 * iterators are closed (their `next()` throws `IteratorClosedError`).
 */
import { prefixEnd } from '../util/bytes.js';
import { StoreClosedError } from '../util/errors.js';
import { type ChangelogMarker, decodeMarker, encodeMarker } from './changelog-marker.js';
import { type DeferOptions, DeferredApply } from './deferred-apply.js';
import type { PendingWrites } from './pending-writes.js';
import { spanOps } from './span-batch.js';
import { CursorIterator, type IteratorOwner } from './store-iterator.js';
import type { KeyValueIterator, SpanBatch, StorageEngine, StoreLayer, WriteOp } from './types.js';
import { type Bound, getAllOf } from './wrapped-store.js';

export interface EngineStoreOptions {
  readonly name: string;
  /** Keep the changelog marker in the engine's metadata (only when the store has a changelog). */
  readonly trackChangelog: boolean;
  /**
   * Hold writes until a commit point is durable (see the file's comment); with `trackChangelog`
   * only. A durable point applies once `applyBytes` are pending or `applyMs` passed since the last
   * apply (else a later point takes its ops too); past `maxBytes` they go down at once, not clean.
   */
  readonly deferWrites?: DeferOptions;
}

export class EngineStore implements StoreLayer<Uint8Array, Uint8Array>, IteratorOwner {
  readonly name: string;
  readonly openIterators = new Set<CursorIterator>();
  /** Number of engine write transactions so far (data or marker). */
  writes = 0;
  private closed = false;
  private readonly track: boolean;
  /** The marker as the store stands (with deferred writes, the engine's may lag behind it). */
  private marker: ChangelogMarker | undefined;
  /** Deferred writes (undefined: writes go straight down). */
  private readonly deferred: DeferredApply | undefined;
  /** `deferred.pending`: the ops the engine does not hold yet, which reads look at first. */
  private readonly pending: PendingWrites | undefined;

  constructor(
    readonly engine: StorageEngine,
    options: EngineStoreOptions,
  ) {
    this.name = options.name;
    this.track = options.trackChangelog;
    this.marker = this.track ? decodeMarker(engine.readMeta()) : undefined;
    const defer = this.track ? options.deferWrites : undefined;
    this.deferred =
      defer === undefined
        ? undefined
        : new DeferredApply(engine, this.name, defer, () => this.marker?.offset ?? -1);
    this.pending = this.deferred?.pending;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** The marker as last written (undefined: none yet, or no changelog). */
  changelogMarker(): ChangelogMarker | undefined {
    return this.marker;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.check();
    const pending = this.pending?.lookup(key);
    if (pending !== undefined) return pending ?? undefined;
    return this.engine.get(key);
  }

  getAll(keys: Iterable<Uint8Array>): Map<Uint8Array, Uint8Array> {
    return getAllOf(this, keys);
  }

  put(key: Uint8Array, value: Uint8Array): void {
    const engine = this.engine;
    if (this.pending !== undefined) {
      this.defer(key, value);
      return;
    }
    if (engine.put === undefined) {
      this.write([{ key, value }]);
      return;
    }
    if (this.closed) throw new StoreClosedError(this.name);
    const meta = this.dirtyMeta();
    if (meta === undefined) engine.put(key, value);
    else {
      engine.put(key, value, meta);
      this.markDirty();
    }
    this.writes++;
  }

  /** The engine's key count as a function, when the engine keeps one (`keyCount`); else undefined. */
  keyCounter(): (() => number) | undefined {
    const engine = this.engine;
    if (engine.keyCount === undefined || this.pending !== undefined) return undefined;
    return () => {
      if (this.closed) throw new StoreClosedError(this.name);
      return (engine.keyCount as () => number)();
    };
  }

  /** Whether `key` is held (the engine's `has` when it has one: no value copied out). */
  has(key: Uint8Array): boolean {
    this.check();
    const pending = this.pending?.lookup(key);
    if (pending !== undefined) return pending !== null;
    const engine = this.engine;
    return engine.has === undefined ? engine.get(key) !== undefined : engine.has(key);
  }

  putAll(entries: Iterable<readonly [Uint8Array, Uint8Array]>): void {
    const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
    for (const [key, value] of entries) ops.push({ key, value });
    this.write(ops);
  }

  delete(key: Uint8Array): void {
    const engine = this.engine;
    if (this.pending !== undefined) {
      this.defer(key, null);
      return;
    }
    if (engine.delete === undefined) {
      this.write([{ key, value: null }]);
      return;
    }
    if (this.closed) throw new StoreClosedError(this.name);
    const meta = this.dirtyMeta();
    if (meta === undefined) engine.delete(key);
    else {
      engine.delete(key, meta);
      this.markDirty();
    }
    this.writes++;
  }

  deleteAll(keys: Iterable<Uint8Array>): void {
    const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
    for (const key of keys) ops.push({ key, value: null });
    this.write(ops);
  }

  write(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    this.check();
    if (ops.length === 0) return;
    const pending = this.pending;
    if (pending !== undefined) {
      const checkKey = this.engine.checkKey;
      if (checkKey !== undefined) for (let i = 0; i < ops.length; i++) checkKey.call(this.engine, ops[i].key);
      for (let i = 0; i < ops.length; i++) pending.push(ops[i]); // ops below the cache are not changed
      this.taken();
      return;
    }
    const meta = this.dirtyMeta();
    if (meta === undefined) this.engine.write(ops);
    else {
      this.engine.write(ops, meta);
      this.markDirty();
    }
    this.writes++;
  }

  /** A deferred put or delete: checked against the engine's key limits, then held. */
  private defer(key: Uint8Array, value: Uint8Array | null): void {
    this.check();
    this.engine.checkKey?.(key);
    (this.pending as PendingWrites).add(key, value);
    this.taken();
  }

  /** After a deferred write was taken: counts it, marks the store not clean, lets `deferred` act on its size. */
  private taken(): void {
    this.writes++;
    // the store now holds a write no changelog offset covers yet (as `markDirty` after an engine
    // write): a commit must mark a point even when the changelog's offset did not move
    if (this.marker === undefined || this.marker.clean)
      this.marker = { offset: this.marker?.offset ?? -1, clean: false };
    (this.deferred as DeferredApply).taken();
  }

  /**
   * Resolves once no background engine write is in flight: each landed, or failed (then every
   * later call throws the failure).
   */
  async settled(): Promise<void> {
    await this.deferred?.settled();
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError(this.name);
    const failure = this.deferred?.failure;
    if (failure !== undefined) throw failure;
  }

  /** The "not clean" marker the next data write must carry, or undefined when it needs none. */
  private dirtyMeta(): Uint8Array | undefined {
    if (!this.track || (this.marker !== undefined && !this.marker.clean)) return undefined;
    return encodeMarker({ offset: this.marker?.offset ?? -1, clean: false });
  }

  /** Called once the write that carried `dirtyMeta()` returned. */
  private markDirty(): void {
    this.marker = { offset: this.marker?.offset ?? -1, clean: false };
  }

  /**
   * Records that the engine holds exactly the changelog's state at `offset` (one engine write).
   * `durable`: see `StorageEngine.commitPoint`.
   */
  markClean(offset: number, durable?: Promise<boolean>): void {
    this.check();
    const clean = { offset, clean: true };
    const deferred = this.deferred;
    if (deferred !== undefined) {
      this.marker = clean;
      this.writes++;
      deferred.point(offset, durable);
      return;
    }
    this.engine.write([], encodeMarker(clean));
    this.marker = clean;
    this.writes++;
    this.engine.commitPoint?.(durable);
  }

  /** Applies restored changelog records with the marker of `offset`, in one engine transaction. */
  writeRestored(ops: readonly WriteOp<Uint8Array, Uint8Array>[], offset: number): void {
    this.check();
    this.deferred?.writeDown();
    const clean = { offset, clean: true };
    this.engine.write(ops, encodeMarker(clean));
    this.marker = clean;
    this.deferred?.restored();
    this.writes++;
  }

  /** `writeRestored` of records as byte spans: the engine's `writeSpans`, else its `write`. */
  writeRestoredSpans(batches: readonly SpanBatch[], offset: number): void {
    this.check();
    this.deferred?.writeDown();
    const clean = { offset, clean: true };
    if (this.engine.writeSpans !== undefined) this.engine.writeSpans(batches, encodeMarker(clean));
    else this.engine.write(spanOps(batches), encodeMarker(clean));
    this.marker = clean;
    this.deferred?.restored();
    this.writes++;
  }

  /** Removes every key and the marker. */
  clear(): void {
    if (this.closed) throw new StoreClosedError(this.name);
    this.deferred?.clear();
    this.engine.clear();
    this.marker = undefined;
    this.writes++;
  }

  range(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    this.check();
    this.deferred?.writeDown();
    return new CursorIterator(this.engine.range(from, to), this);
  }

  prefix(prefix: Uint8Array): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.range(prefix, prefixEnd(prefix));
  }

  all(): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.range(undefined, undefined);
  }

  snapshot(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    this.check();
    this.deferred?.writeDown();
    return new CursorIterator(this.engine.snapshot(from, to), this);
  }

  async flush(): Promise<void> {
    this.check();
    await this.engine.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // writes a durable point covers land first (see `DeferredApply.close`)
    await this.deferred?.close();
    for (const it of [...this.openIterators]) it.close();
    await this.engine.close();
  }
}
