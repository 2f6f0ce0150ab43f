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
 * Corner cases: after `close()` (idempotent) every call throws `StoreClosedError`, and open
 * iterators are closed (their `next()` throws `IteratorClosedError`).
 */
import { prefixEnd } from '../util/bytes.js';
import { StoreClosedError } from '../util/errors.js';
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
}

export class EngineStore implements StoreLayer<Uint8Array, Uint8Array>, IteratorOwner {
  readonly name: string;
  readonly openIterators = new Set<CursorIterator>();
  /** Number of engine write transactions so far (data or marker). */
  writes = 0;
  private closed = false;
  private readonly track: boolean;
  private marker: ChangelogMarker | undefined;

  constructor(
    readonly engine: StorageEngine,
    options: EngineStoreOptions,
  ) {
    this.name = options.name;
    this.track = options.trackChangelog;
    this.marker = this.track ? decodeMarker(engine.readMeta()) : undefined;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** The marker as last written (undefined: none yet, or no changelog). */
  changelogMarker(): ChangelogMarker | undefined {
    return this.marker;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    if (this.closed) throw new StoreClosedError(this.name);
    return this.engine.get(key);
  }

  getAll(keys: Iterable<Uint8Array>): Map<Uint8Array, Uint8Array> {
    return getAllOf(this, keys);
  }

  put(key: Uint8Array, value: Uint8Array): void {
    const engine = this.engine;
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
    if (engine.keyCount === undefined) return undefined;
    return () => {
      if (this.closed) throw new StoreClosedError(this.name);
      return (engine.keyCount as () => number)();
    };
  }

  /** Whether `key` is held (the engine's `has` when it has one: no value copied out). */
  has(key: Uint8Array): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
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
    if (this.closed) throw new StoreClosedError(this.name);
    if (ops.length === 0) return;
    const meta = this.dirtyMeta();
    if (meta === undefined) this.engine.write(ops);
    else {
      this.engine.write(ops, meta);
      this.markDirty();
    }
    this.writes++;
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
    if (this.closed) throw new StoreClosedError(this.name);
    const clean = { offset, clean: true };
    this.engine.write([], encodeMarker(clean));
    this.marker = clean;
    this.writes++;
    this.engine.commitPoint?.(durable);
  }

  /** Applies restored changelog records with the marker of `offset`, in one engine transaction. */
  writeRestored(ops: readonly WriteOp<Uint8Array, Uint8Array>[], offset: number): void {
    if (this.closed) throw new StoreClosedError(this.name);
    const clean = { offset, clean: true };
    this.engine.write(ops, encodeMarker(clean));
    this.marker = clean;
    this.writes++;
  }

  /** `writeRestored` of records as byte spans: the engine's `writeSpans`, else its `write`. */
  writeRestoredSpans(batches: readonly SpanBatch[], offset: number): void {
    if (this.closed) throw new StoreClosedError(this.name);
    const clean = { offset, clean: true };
    if (this.engine.writeSpans !== undefined) this.engine.writeSpans(batches, encodeMarker(clean));
    else this.engine.write(spanOps(batches), encodeMarker(clean));
    this.marker = clean;
    this.writes++;
  }

  /** Removes every key and the marker. */
  clear(): void {
    if (this.closed) throw new StoreClosedError(this.name);
    this.engine.clear();
    this.marker = undefined;
    this.writes++;
  }

  range(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    if (this.closed) throw new StoreClosedError(this.name);
    return new CursorIterator(this.engine.range(from, to), this);
  }

  prefix(prefix: Uint8Array): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.range(prefix, prefixEnd(prefix));
  }

  all(): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.range(undefined, undefined);
  }

  snapshot(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    if (this.closed) throw new StoreClosedError(this.name);
    return new CursorIterator(this.engine.snapshot(from, to), this);
  }

  async flush(): Promise<void> {
    if (this.closed) throw new StoreClosedError(this.name);
    await this.engine.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const it of [...this.openIterators]) it.close();
    await this.engine.close();
  }
}
