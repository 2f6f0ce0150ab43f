/**
 * The cache layer: an LRU of byte keys, write-back and coalescing.
 *
 * - Reads: a hit answers from memory (absent keys are cached too, as negative entries); a miss
 *   reads the layer below and caches the answer — unless the cache is full and reads have been
 *   hitting less than 1 in 8 (random reads over far more keys than it holds): then one miss in 8
 *   is cached, so such reads cost little more than the engine's own get (`admit`).
 * - Writes (put, delete, batches) only change the cache and mark the entry dirty: 100 puts to one
 *   key between two flushes reach the layer below as one op, hence one engine write and one
 *   changelog record.
 * - Dirty entries go down as ONE `write(ops)` batch: on `flush()`, when they reach
 *   `writeBatchSize` (bounding memory and the size of a commit), when a dirty entry is evicted, and
 *   before any iterator is created.
 * - Iterators: the dirty entries are flushed down before `range`/`prefix`/`all`/`snapshot` (as
 *   Samza's CachedStore does), so the iterators of the layer below see every earlier write, and
 *   `snapshot` keeps the engine's stable view. Cost: a store that alternates writes and ranges
 *   coalesces less. Merging dirty entries into the engine's iterator instead would keep them in
 *   memory but needs a sorted dirty set and a merge on every step of every scan.
 *
 * - Inserts and updates: each put is counted as an insert or an update (a put over a key that
 *   exists), exactly. The cached entry says whether the key exists (a negative entry: it does not);
 *   a read miss that admission kept out of the cache is remembered (one key), so the usual
 *   read-modify-write still knows; only a blind write to an uncached key reads the layer below once.
 *   With TTL, `isLive` tells an expired (absent) value from a live one.
 *
 * Corner cases: `cacheSize >= writeBatchSize >= 1` (checked by the options); a batch is applied whole
 * before the threshold is checked, so one `write(ops)` is never split by the cache; a failed write
 * below leaves the entries dirty (the next flush tries again); `invalidate()` drops everything,
 * dirty entries included (restore and wipe use it); after `close()` every call throws
 * `StoreClosedError`.
 */
import { latin1Id } from '../util/bytes.js';
import { StoreClosedError } from '../util/errors.js';
import type { KeyValueIterator, WriteOp } from './types.js';
import { type Bound, type BytesLayer, WrappedStore } from './wrapped-store.js';

interface CacheEntry {
  id: string;
  key: Uint8Array;
  /** null: the key is absent (deleted, or read as missing). */
  value: Uint8Array | null;
  dirty: boolean;
  /** Neighbours in the recency list (towards the least / most recently used end). */
  older: CacheEntry | undefined;
  newer: CacheEntry | undefined;
}

export interface CachedStoreOptions {
  /** Most entries kept (clean and dirty). */
  readonly cacheSize: number;
  /** Dirty entries that trigger a write down. */
  readonly writeBatchSize: number;
  /** Whether a stored value is live (the TTL layer above: false once expired); default: always. */
  readonly isLive?: (value: Uint8Array) => boolean;
}

export interface CacheCounters {
  cacheHits: number;
  cacheMisses: number;
  cacheEvictions: number;
  cacheSize: number;
  cacheDirty: number;
  /** Batches written to the layer below. */
  cacheWriteBatches: number;
  /** Puts of a key that did not exist. */
  inserts: number;
  /** Puts over a key that existed. */
  updates: number;
}

/** Reads per window of the read admission (`CachedStore.admit`). */
const READ_WINDOW = 4096;
/** Below a hit rate of 1 in ADMIT_EVERY, one read miss in ADMIT_EVERY is cached. */
const ADMIT_EVERY = 8;

export class CachedStore extends WrappedStore {
  /** Every entry by id. Recency is a doubly linked list (O(1) touch and evict; a Map's own order
   * would leave deleted slots that every eviction scan walks over again). */
  private readonly lru = new Map<string, CacheEntry>();
  private oldest: CacheEntry | undefined;
  private newest: CacheEntry | undefined;
  /** The dirty entries, in the order they became dirty (an entry is pushed when its `dirty` flag
   * turns on, so never twice; a plain array: no second hash insert per written key). */
  private dirty: CacheEntry[] = [];
  private readonly cacheSize: number;
  private readonly writeBatchSize: number;
  private closed = false;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private batches = 0;
  /** Read admission (see `admit`): hits and misses when the current window began; the verdict. */
  private windowStartHits = 0;
  private windowStartMisses = 0;
  private thrashing = false;
  private skipped = 0;
  private inserts = 0;
  private updates = 0;
  private readonly isLive: ((value: Uint8Array) => boolean) | undefined;
  /** The last read miss that admission kept out of the cache: its id and whether the key existed. */
  private missId: string | undefined;
  private missExisted = false;

  constructor(inner: BytesLayer, options: CachedStoreOptions) {
    super(inner);
    this.cacheSize = options.cacheSize;
    this.writeBatchSize = options.writeBatchSize;
    this.isLive = options.isLive;
  }

  override get isOpen(): boolean {
    return !this.closed && this.inner.isOpen;
  }

  counters(): CacheCounters {
    return {
      cacheHits: this.hits,
      cacheMisses: this.misses,
      cacheEvictions: this.evictions,
      cacheSize: this.lru.size,
      cacheDirty: this.dirty.length,
      cacheWriteBatches: this.batches,
      inserts: this.inserts,
      updates: this.updates,
    };
  }

  override get(key: Uint8Array): Uint8Array | undefined {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    const id = latin1Id(key);
    const lru = this.lru;
    const hit = lru.get(id);
    if (hit !== undefined) {
      this.hits++;
      if (hit !== this.newest) this.touch(hit);
      return hit.value ?? undefined;
    }
    this.misses++;
    const value = this.inner.get(key);
    if (!this.admit()) {
      this.missId = id;
      this.missExisted = value !== undefined && (this.isLive === undefined || this.isLive(value));
      return value;
    }
    const oldest = this.oldest;
    if (lru.size >= this.cacheSize && oldest !== undefined && !oldest.dirty && oldest !== this.newest) {
      // full: the least recently used clean entry becomes this one (no allocation, no eviction pass)
      lru.delete(oldest.id);
      this.evictions++;
      oldest.id = id;
      oldest.key = key;
      oldest.value = value ?? null;
      lru.set(id, oldest);
      this.touch(oldest);
      return value;
    }
    this.insert(id, key, value ?? null, false);
    if (lru.size > this.cacheSize) this.evict();
    return value;
  }

  override put(key: Uint8Array, value: Uint8Array): void {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    this.set(key, value);
    this.afterWrite();
  }

  override delete(key: Uint8Array): void {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    this.set(key, null);
    this.afterWrite();
  }

  override write(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    for (let i = 0; i < ops.length; i++) this.set(ops[i].key, ops[i].value);
    this.afterWrite();
  }

  override range(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    this.beforeIterator();
    return this.inner.range(from as Uint8Array, to as Uint8Array);
  }

  override prefix(prefix: Uint8Array): KeyValueIterator<Uint8Array, Uint8Array> {
    this.beforeIterator();
    return this.inner.prefix(prefix);
  }

  override all(): KeyValueIterator<Uint8Array, Uint8Array> {
    this.beforeIterator();
    return this.inner.all();
  }

  override snapshot(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    this.beforeIterator();
    return this.inner.snapshot(from as Uint8Array, to as Uint8Array);
  }

  override async flush(): Promise<void> {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    this.writeDirty();
    await this.inner.flush();
  }

  override async close(): Promise<void> {
    if (!this.closed) {
      this.writeDirty();
      this.closed = true;
      this.invalidate();
    }
    await this.inner.close();
  }

  /** Drops every entry, dirty ones included (restore and wipe write below the cache). */
  invalidate(): void {
    this.missId = undefined;
    this.lru.clear();
    this.dirty = [];
    this.oldest = undefined;
    this.newest = undefined;
  }

  /** Hands every dirty entry down as one `write(ops)`; they stay cached, clean. */
  writeDirty(): void {
    const dirty = this.dirty;
    const n = dirty.length;
    if (n === 0) return;
    // Fresh ops, not the entries: the layers below may keep the records (the changelog queues
    // them) while later writes change the entries.
    const ops: WriteOp<Uint8Array, Uint8Array>[] = new Array(n);
    for (let i = 0; i < n; i++) ops[i] = { key: dirty[i].key, value: dirty[i].value };
    this.inner.write(ops);
    for (let i = 0; i < n; i++) dirty[i].dirty = false;
    this.dirty = [];
    this.batches++;
  }

  private set(key: Uint8Array, value: Uint8Array | null): void {
    const id = latin1Id(key);
    const lru = this.lru;
    const entry = lru.get(id);
    // the remembered miss is stale once its key is written (every write comes through here)
    const missed = id === this.missId;
    if (missed) this.missId = undefined;
    if (entry === undefined) {
      if (value !== null) {
        let existed: boolean;
        if (missed) existed = this.missExisted;
        else {
          const below = this.inner.get(key);
          existed = below !== undefined && (this.isLive === undefined || this.isLive(below));
        }
        if (existed) this.updates++;
        else this.inserts++;
      }
      this.dirty.push(this.insert(id, key, value, true));
      return;
    }
    if (value !== null) {
      const old = entry.value;
      if (old !== null && (this.isLive === undefined || this.isLive(old))) this.updates++;
      else this.inserts++;
    }
    if (entry !== this.newest) this.touch(entry);
    entry.value = value;
    if (!entry.dirty) {
      entry.dirty = true;
      this.dirty.push(entry);
    }
  }

  private afterWrite(): void {
    if (this.dirty.length >= this.writeBatchSize) this.writeDirty();
    if (this.lru.size > this.cacheSize) this.evict();
  }

  private beforeIterator(): void {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    this.writeDirty();
  }

  /**
   * Whether a read miss enters the cache. Always, unless the cache is full and the last window of
   * READ_WINDOW reads hit less than 1 in ADMIT_EVERY: then the reads are spread over far more keys
   * than the cache holds, every insert would only evict another entry that will not be read again,
   * and only one miss in ADMIT_EVERY is cached (so keys that are read often still get in and the
   * hit rate can recover). Writes are always cached: they are the write-back and coalescing.
   */
  private admit(): boolean {
    // the window is READ_WINDOW reads (hits and misses); checked on misses only, keeping hits cheap
    const hits = this.hits - this.windowStartHits;
    const reads = hits + this.misses - this.windowStartMisses;
    if (reads >= READ_WINDOW) {
      this.thrashing = hits * ADMIT_EVERY < reads;
      this.windowStartHits = this.hits;
      this.windowStartMisses = this.misses;
    }
    if (!this.thrashing || this.lru.size < this.cacheSize) return true;
    if (++this.skipped < ADMIT_EVERY) return false;
    this.skipped = 0;
    return true;
  }

  /** Adds a new entry as the most recently used. */
  private insert(id: string, key: Uint8Array, value: Uint8Array | null, dirty: boolean): CacheEntry {
    const entry: CacheEntry = { id, key, value, dirty, older: this.newest, newer: undefined };
    if (this.newest === undefined) this.oldest = entry;
    else this.newest.newer = entry;
    this.newest = entry;
    this.lru.set(id, entry);
    return entry;
  }

  /** Moves an entry that is not the newest to the most recently used end. */
  private touch(entry: CacheEntry): void {
    const { older, newer } = entry;
    if (older === undefined) this.oldest = newer;
    else older.newer = newer;
    (newer as CacheEntry).older = older;
    entry.older = this.newest;
    entry.newer = undefined;
    (this.newest as CacheEntry).newer = entry;
    this.newest = entry;
  }

  /** Removes least recently used entries down to `cacheSize`; a dirty one writes all dirty first. */
  private evict(): void {
    const lru = this.lru;
    while (lru.size > this.cacheSize) {
      const entry = this.oldest as CacheEntry;
      if (entry.dirty) this.writeDirty();
      this.oldest = entry.newer;
      if (this.oldest === undefined) this.newest = undefined;
      else this.oldest.older = undefined;
      lru.delete(entry.id);
      this.evictions++;
    }
  }
}
