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
 * is durable, so after a crash at any instant its copy is the state of a durable commit point —
 * reused or replayed from there, never rebuilt from the whole changelog. Without this, a crash
 * after the store's part of a commit (engine write and clean marker) but before the checkpoint or
 * the exactly-once transaction left the marker ahead of every checkpoint, and a write-back cache
 * that evicted between commits left it not clean: the crash test's restarts rebuilt their stores
 * nearly every time. How:
 * - puts and deletes go to `PendingWrites` (memory), which `get`/`has` read first;
 * - `markClean(N, durable)` notes the point; once `durable` is true, the ops up to it go to the
 *   engine in ONE transaction with the clean marker N (`durable` false: they stay pending, and a
 *   failed commit's store is closed without them) — if `applyBytes` are pending or `applyMs`
 *   passed since the last apply; else a later point takes them too. A B+tree transaction of random
 *   keys rewrites most leaf pages whatever its size, so larger ones cost less per op (lmdb, scenario
 *   3 of the runtime benchmark: one ~50k-op transaction per commit ran at 44k msgs/s where
 *   ~95k-op ones ran at 57k), and a crash replays at most that much changelog. Without `durable`
 *   (a store used alone, `close`) they go at once;
 * - an ordered read (`range`, `snapshot`), a wipe of the pending ops past `maxBytes`, or a restore
 *   writes everything pending down at once with the marker not clean (as before: a crash then
 *   rebuilds), and a point whose ops were overtaken that way is not marked clean; the first
 *   durable point past them applies at once, whatever is pending, so the engine is clean again
 *   one commit later rather than up to `applyMs`;
 * - keys are checked against the engine's limits when written (`checkKey`), not when applied; an
 *   engine failure while applying is kept and thrown by every later call and commit.
 *
 * Corner cases: after `close()` (idempotent) every call throws `StoreClosedError`, and open
 * iterators are closed (their `next()` throws `IteratorClosedError`).
 */
import { prefixEnd } from '../util/bytes.js';
import { EngineError, StoreClosedError } from '../util/errors.js';
import { PendingWrites } from './pending-writes.js';
import { spanOps } from './span-batch.js';
import { CursorIterator, type IteratorOwner } from './store-iterator.js';
import type { KeyValueIterator, SpanBatch, StorageEngine, StoreLayer, WriteOp } from './types.js';
import { type Bound, getAllOf } from './wrapped-store.js';

/** Where the engine stands relative to the changelog. */
export interface ChangelogMarker {
  /** The last changelog offset whose state the engine holds (-1: none). */
  readonly offset: number;
  /** False when the engine took writes after `offset` that no changelog ack covers. */
  readonly clean: boolean;
}

export function encodeMarker(marker: ChangelogMarker): Uint8Array {
  return Buffer.from(JSON.stringify({ offset: marker.offset, clean: marker.clean }));
}

export function decodeMarker(meta: Uint8Array | undefined): ChangelogMarker | undefined {
  if (meta === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(meta).toString('utf8')) as ChangelogMarker;
    if (typeof parsed.offset === 'number' && typeof parsed.clean === 'boolean') return parsed;
  } catch {
    // an unreadable marker counts as none: the runtime rebuilds the store
  }
  return undefined;
}

export interface EngineStoreOptions {
  readonly name: string;
  /** Keep the changelog marker in the engine's metadata (only when the store has a changelog). */
  readonly trackChangelog: boolean;
  /**
   * Hold writes until a commit point is durable (see the file's comment); with `trackChangelog`
   * only. A durable point applies once `applyBytes` are pending or `applyMs` passed since the last
   * apply (else a later point takes its ops too); past `maxBytes` they go down at once, not clean.
   */
  readonly deferWrites?: { readonly maxBytes: number; readonly applyBytes: number; readonly applyMs: number };
}

/** A durable point whose ops the engine writes in the background. */
interface InFlight {
  readonly end: number;
  readonly count: number;
  /** Settles once the handlers of the write have run. */
  readonly done: Promise<void>;
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
  /** Deferred writes: the ops the engine does not hold yet (undefined: writes go straight down). */
  private readonly pending: PendingWrites | undefined;
  private readonly maxPending: number;
  private readonly applyBytes: number;
  private readonly applyMs: number;
  private lastApply = performance.now();
  /** The last durable point not applied yet (it waits for a larger one, or for `close`). */
  private confirmed: { end: number; offset: number } | undefined;
  /** Ops numbered below this are in the engine (applied at a point, or written down early). */
  private appliedEnd = 0;
  /** Ops numbered below this were written down early, with the marker not clean. */
  private forcedEnd = 0;
  /** The engine's marker is not clean since an early write-down: the next durable point applies at once. */
  private engineDirty = false;
  /** Bumped by `clear()` and `close()`: a durable point noted before must not apply. */
  private epoch = 0;
  /** A failure of a deferred apply: thrown by every later call. */
  private failure: EngineError | undefined;
  /** Deferred writes on an engine that writes in the background (`writeInBackground`, lmdb). */
  private readonly background: boolean;
  /** The durable point whose ops the engine is writing in the background (they stay pending until it lands). */
  private inflight: InFlight | undefined;

  constructor(
    readonly engine: StorageEngine,
    options: EngineStoreOptions,
  ) {
    this.name = options.name;
    this.track = options.trackChangelog;
    this.marker = this.track ? decodeMarker(engine.readMeta()) : undefined;
    const defer = this.track ? options.deferWrites : undefined;
    this.pending = defer === undefined ? undefined : new PendingWrites();
    this.maxPending = defer?.maxBytes ?? 0;
    this.applyBytes = defer?.applyBytes ?? 0;
    this.applyMs = defer?.applyMs ?? 0;
    this.background =
      this.pending !== undefined && engine.writeInBackground !== undefined && engine.settle !== undefined;
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

  /**
   * After a deferred write was taken: counts it, and past `maxPending` waits for a background write
   * in flight and applies the durable point waiting behind it (the engine stays clean); only if that
   * is not enough, writes everything down.
   */
  private taken(): void {
    this.writes++;
    // the store now holds a write no changelog offset covers yet (as `markDirty` after an engine
    // write): a commit must mark a point even when the changelog's offset did not move
    if (this.marker === undefined || this.marker.clean)
      this.marker = { offset: this.marker?.offset ?? -1, clean: false };
    const pending = this.pending as PendingWrites;
    if (pending.bytes <= this.maxPending) return;
    if (this.inflight !== undefined) {
      this.settleInflight();
      const confirmed = this.confirmed;
      if (confirmed !== undefined) this.applyPoint(confirmed.end, confirmed.offset, true);
      if (pending.bytes <= this.maxPending) return;
    }
    this.writeDown();
  }

  /**
   * Deferred writes: every pending op to the engine at once, with the marker not clean (the engine
   * now holds writes no durable commit covers).
   */
  private writeDown(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.settleInflight();
    if (pending.size === 0) return;
    const end = pending.end;
    const ops = pending.take(end);
    const dirty = { offset: this.marker?.offset ?? -1, clean: false };
    this.applyOps(ops, encodeMarker(dirty), 'pending');
    this.appliedEnd = end;
    this.forcedEnd = end;
    this.engineDirty = true;
  }

  /**
   * Deferred writes: the ops numbered below `end` to the engine, with the clean marker `offset`: in
   * the background when the engine can (unless `sync`), after the background write in flight (the
   * point waits in `confirmed` meanwhile).
   */
  private applyPoint(end: number, offset: number, sync = false): void {
    const pending = this.pending as PendingWrites;
    // a later point applied them already, or some ops after this point went down early: the
    // engine holds more than this point, so it must not be marked clean at it
    if (end < this.appliedEnd || end < this.forcedEnd) return;
    const meta = encodeMarker({ offset, clean: true });
    if (this.background && !sync) {
      if (this.inflight !== undefined) {
        this.confirmed = { end, offset };
        return;
      }
      this.writeInBackground(end, meta);
      return;
    }
    this.settleInflight();
    this.applyOps(pending.take(end), meta, 'committed');
    this.pointApplied(end);
  }

  /** The engine holds every op numbered below `end`, with a clean marker. */
  private pointApplied(end: number): void {
    this.appliedEnd = Math.max(this.appliedEnd, end);
    this.engineDirty = false;
    this.lastApply = performance.now();
    if (this.confirmed !== undefined && this.confirmed.end <= end) this.confirmed = undefined;
  }

  /**
   * Starts the background write of the ops below `end` (they stay pending, so reads see them,
   * until it lands); one at a time.
   */
  private writeInBackground(end: number, meta: Uint8Array): void {
    const pending = this.pending as PendingWrites;
    const ops = pending.peek(end);
    let write: Promise<void>;
    try {
      write = (this.engine.writeInBackground as NonNullable<StorageEngine['writeInBackground']>).call(
        this.engine,
        ops,
        meta,
      );
    } catch (err) {
      this.failure = new EngineError(
        `store "${this.name}": writing ${ops.length} committed ops to its engine failed; the store is unusable, restart the job (it restores from the changelog)`,
        { cause: err },
      );
      throw this.failure;
    }
    const flight: InFlight = {
      end,
      count: ops.length,
      done: write.then(
        () => this.onLanded(flight),
        (err: unknown) => {
          if (this.inflight === flight) this.backgroundFailed(flight, err);
        },
      ),
    };
    this.inflight = flight;
    if (this.confirmed !== undefined && this.confirmed.end <= end) this.confirmed = undefined;
  }

  /** The background write of `flight` landed (its promise): unless that was seen already, the next point goes. */
  private onLanded(flight: InFlight): void {
    if (this.inflight !== flight) return; // landed already (settled synchronously)
    this.landed(flight);
    // the point that waited behind it goes next, if it is due by then
    const next = this.confirmed;
    if (next !== undefined && !this.closed && this.failure === undefined && this.isDue()) {
      try {
        this.applyPoint(next.end, next.offset);
      } catch {
        // kept in `failure`: the next call and the next commit throw it
      }
    }
  }

  /** A background write is over: its ops leave the pending ones, the engine holds them. */
  private landed(flight: { end: number }): void {
    this.inflight = undefined;
    (this.pending as PendingWrites).take(flight.end);
    this.pointApplied(flight.end);
  }

  private backgroundFailed(flight: InFlight, err: unknown): void {
    if (this.inflight === flight) this.inflight = undefined;
    this.failure ??= new EngineError(
      `store "${this.name}": writing ${flight.count} committed ops to its engine failed; the store is unusable, restart the job (it restores from the changelog)`,
      { cause: err },
    );
  }

  /** Waits (blocking) for the background write in flight, so the engine holds its ops; throws its failure. */
  private settleInflight(): void {
    const flight = this.inflight;
    if (flight === undefined) return;
    try {
      (this.engine.settle as () => void).call(this.engine);
    } catch (err) {
      this.backgroundFailed(flight, err);
      throw this.failure;
    }
    this.landed(flight);
  }

  /**
   * Resolves once no background engine write is in flight: each landed, or failed (then every
   * later call throws the failure).
   */
  async settled(): Promise<void> {
    while (this.inflight !== undefined) await this.inflight.done;
  }

  /** Whether a durable point should apply now rather than wait for a larger one. */
  private isDue(): boolean {
    // an engine left not clean by an early write-down is made clean again at once: a crash
    // meanwhile would rebuild the store
    return (
      this.engineDirty ||
      (this.pending as PendingWrites).bytes >= this.applyBytes ||
      performance.now() - this.lastApply >= this.applyMs
    );
  }

  /** `what` says which ops they are, in the failure's message: committed, or pending written down early. */
  private applyOps(
    ops: readonly WriteOp<Uint8Array, Uint8Array>[],
    meta: Uint8Array,
    what: 'committed' | 'pending',
  ): void {
    try {
      this.engine.write(ops, meta);
    } catch (err) {
      this.failure = new EngineError(
        `store "${this.name}": writing ${ops.length} ${what} ops to its engine failed; the store is unusable, restart the job (it restores from the changelog)`,
        { cause: err },
      );
      throw this.failure;
    }
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError(this.name);
    if (this.failure !== undefined) throw this.failure;
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
    const pending = this.pending;
    if (pending !== undefined) {
      const end = pending.end;
      this.marker = clean;
      this.writes++;
      if (durable === undefined) {
        this.applyPoint(end, offset, true);
        return;
      }
      const epoch = this.epoch;
      durable.then(
        (ok) => {
          if (!ok || epoch !== this.epoch || this.closed || this.failure !== undefined) return;
          if (!this.isDue()) {
            // a later point takes these ops too (fewer, larger engine transactions), or close does
            this.confirmed = { end, offset };
            return;
          }
          try {
            this.applyPoint(end, offset);
          } catch {
            // kept in `failure`: the next call and the next commit throw it
          }
        },
        () => {},
      );
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
    this.writeDown();
    const clean = { offset, clean: true };
    this.engine.write(ops, encodeMarker(clean));
    this.marker = clean;
    this.engineDirty = false;
    this.writes++;
  }

  /** `writeRestored` of records as byte spans: the engine's `writeSpans`, else its `write`. */
  writeRestoredSpans(batches: readonly SpanBatch[], offset: number): void {
    this.check();
    this.writeDown();
    const clean = { offset, clean: true };
    if (this.engine.writeSpans !== undefined) this.engine.writeSpans(batches, encodeMarker(clean));
    else this.engine.write(spanOps(batches), encodeMarker(clean));
    this.marker = clean;
    this.engineDirty = false;
    this.writes++;
  }

  /** Removes every key and the marker. */
  clear(): void {
    if (this.closed) throw new StoreClosedError(this.name);
    if (this.inflight !== undefined) {
      this.inflight = undefined;
      try {
        this.engine.settle?.();
      } catch {
        // wiped anyway
      }
    }
    this.pending?.clear();
    this.confirmed = undefined;
    this.epoch++;
    this.appliedEnd = this.forcedEnd = this.pending?.end ?? 0;
    this.engineDirty = false;
    this.failure = undefined;
    this.engine.clear();
    this.marker = undefined;
    this.writes++;
  }

  range(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    this.check();
    this.writeDown();
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
    this.writeDown();
    return new CursorIterator(this.engine.snapshot(from, to), this);
  }

  async flush(): Promise<void> {
    this.check();
    await this.engine.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // a background write in flight lands first (a failure is kept), then a durable point that
    // waited for a larger one lands now (always safe: a checkpoint covers it)
    await this.settled();
    const confirmed = this.confirmed;
    if (confirmed !== undefined && this.failure === undefined) {
      try {
        this.applyPoint(confirmed.end, confirmed.offset, true);
      } catch {
        // kept in `failure`; the engine stays at its last point, which a restart replays from
      }
    }
    this.epoch++;
    this.pending?.clear(); // ops no durable point covers (after a failure): never in the engine
    for (const it of [...this.openIterators]) it.close();
    await this.engine.close();
  }
}
