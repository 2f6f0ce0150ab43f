/**
 * The cache layer: an LRU of byte keys, write-back and coalescing, sized in bytes.
 *
 * - Size: every entry counts its key and value bytes plus what it costs the heap beyond them
 *   (`CACHE_ENTRY_OVERHEAD`, and `CACHE_VALUE_OVERHEAD` for a present value; measured); the cache
 *   keeps at most `cacheBytes` of them, and at most `cacheSize` entries when that is given (the
 *   older, entry-counted limit). With a `CacheBudget` shared by many stores, an insert that takes
 *   the budget's total over its limit evicts from this cache until the total is back under it.
 * - A key or value that is a small view of a large buffer (a record of a read batch) is copied
 *   when it enters the cache, so the cache never keeps a read buffer alive and its count is the
 *   real footprint.
 * - Lookups: a hash of the key bytes into an open-addressing table of entry numbers (typed
 *   arrays), the entries' keys, values, hashes, recency links and dirty flags in parallel arrays:
 *   no string id and no object per operation or per entry.
 *
 * - Reads: a hit answers from memory (absent keys are cached too, as negative entries); a miss
 *   reads the layer below and caches the answer — unless the cache is full and reads have been
 *   hitting less than 1 in 8 (random reads over far more keys than it holds): then one miss in 8
 *   is cached, so such reads cost little more than the engine's own get (`admit`).
 * - Writes (put, delete, batches) only change the cache and mark the entry dirty: 100 puts to one
 *   key between two flushes reach the layer below as one op, hence one engine write and one
 *   changelog record.
 * - Dirty entries go down as ONE `write(ops)` batch: on `flush()`, when they reach
 *   `writeBatchSize` (bounding memory and the size of a commit), when a dirty entry is evicted (by
 *   this cache's limits or the shared budget: nothing dirty is ever dropped), and before any
 *   iterator is created.
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
 * Corner cases: `cacheSize >= writeBatchSize >= 1` (checked by the options); a limit of
 * `Infinity` is none; a batch is applied whole
 * before the threshold is checked, so one `write(ops)` is never split by the cache; a failed write
 * below leaves the entries dirty (the next flush tries again); `invalidate()` drops everything,
 * dirty entries included (restore and wipe use it); after `close()` every call throws
 * `StoreClosedError`.
 */
import { equalBytes, hashBytes } from '../util/bytes.js';
import { StoreClosedError } from '../util/errors.js';
import type { CacheBudget } from './cache-budget.js';
import type { KeyValueIterator, WriteOp } from './types.js';
import { type Bound, type BytesLayer, WrappedStore } from './wrapped-store.js';

/**
 * Heap bytes an entry costs beyond its key bytes: the key's byte-array object and the entry's share
 * of the parallel arrays and the hash table at their usual fill. Measured on 64-bit Node 20 with
 * 200,000 entries (`test/store/cache-overhead.test.ts` checks it still holds).
 */
export const CACHE_ENTRY_OVERHEAD = 150;
/** Heap bytes a present value costs beyond its bytes: its byte-array object (a negative entry has none). */
export const CACHE_VALUE_OVERHEAD = 112;

export interface CachedStoreOptions {
  /** Most entries kept (clean and dirty). Default: no limit by count. */
  readonly cacheSize?: number;
  /** Most bytes kept: key + value + the overheads per entry. Default: no limit by bytes. */
  readonly cacheBytes?: number;
  /** Dirty entries that trigger a write down. */
  readonly writeBatchSize: number;
  /** A memory budget shared with other stores' caches (see `CacheBudget`). */
  readonly budget?: CacheBudget;
  /** Whether a stored value is live (the TTL layer above: false once expired); default: always. */
  readonly isLive?: (value: Uint8Array) => boolean;
  /**
   * The engine's key check (`StorageEngine.checkKey`): a key the engine would refuse is refused
   * when it is written, not at a later flush where no caller can tell which write it was.
   */
  readonly checkKey?: (key: Uint8Array) => void;
}

export interface CacheCounters {
  cacheHits: number;
  cacheMisses: number;
  cacheEvictions: number;
  cacheSize: number;
  /** Bytes the cache holds, as it counts them (key + value + overhead per entry). */
  cacheBytes: number;
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
/** No entry: the end of a recency list, an empty table slot's entry. */
const NONE = -1;
/**
 * A view into a buffer larger than this (and more than twice the view) is copied on entry. Never
 * below Node's Buffer pool (8 KiB on Node 20, 64 KiB on Node 24): slices of the pool are shared by
 * many small buffers, and a copy would land in the pool again, doubling what entries cost.
 */
const SHARED_BUFFER = Math.max(8192, Buffer.poolSize);

/** `b`, or a copy of it when it is a small view of a large buffer (kept alive otherwise). */
function owned<T extends Uint8Array | null>(b: T): T {
  if (b === null) return b;
  const whole = b.buffer.byteLength;
  return (whole > SHARED_BUFFER && b.byteLength * 2 < whole ? Buffer.from(b) : b) as T;
}

/** What an entry counts: its bytes and overheads. */
function bytesOf(key: Uint8Array, value: Uint8Array | null): number {
  return key.length + CACHE_ENTRY_OVERHEAD + valueBytes(value);
}

function valueBytes(value: Uint8Array | null): number {
  return value === null ? 0 : value.length + CACHE_VALUE_OVERHEAD;
}

export class CachedStore extends WrappedStore {
  // Entries by number, in parallel arrays (grown by doubling; numbers are reused from `free`).
  private keys: (Uint8Array | undefined)[] = [];
  /** null: the key is absent (deleted, or read as missing). */
  private values: (Uint8Array | null)[] = [];
  private hashes = new Int32Array(16);
  /** Recency list: towards the least (`older`) and most (`newer`) recently used end. */
  private older = new Int32Array(16);
  private newer = new Int32Array(16);
  private dirtyFlag = new Uint8Array(16);
  private free: number[] = [];
  private top = 0;
  private count = 0;
  /** Open addressing, linear probing: entry number + 1 (0: empty), at most half full. */
  private table = new Int32Array(32);
  private mask = 31;
  private oldest = NONE;
  private newest = NONE;
  /** The dirty entries, in the order they became dirty (pushed when the flag turns on). */
  private dirty: number[] = [];
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly writeBatchSize: number;
  private readonly budget: CacheBudget | undefined;
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
  private readonly checkKey: ((key: Uint8Array) => void) | undefined;
  /** The last read miss that admission kept out of the cache: its key, hash, and whether it existed. */
  private missKey: Uint8Array | undefined;
  private missHash = 0;
  private missExisted = false;

  constructor(inner: BytesLayer, options: CachedStoreOptions) {
    super(inner);
    this.maxEntries = options.cacheSize ?? Number.POSITIVE_INFINITY;
    this.maxBytes = options.cacheBytes ?? Number.POSITIVE_INFINITY;
    this.writeBatchSize = options.writeBatchSize;
    this.budget = options.budget;
    this.isLive = options.isLive;
    this.checkKey = options.checkKey;
  }

  override get isOpen(): boolean {
    return !this.closed && this.inner.isOpen;
  }

  counters(): CacheCounters {
    return {
      cacheHits: this.hits,
      cacheMisses: this.misses,
      cacheEvictions: this.evictions,
      cacheSize: this.count,
      cacheBytes: this.bytes,
      cacheDirty: this.dirty.length,
      cacheWriteBatches: this.batches,
      inserts: this.inserts,
      updates: this.updates,
    };
  }

  override get(key: Uint8Array): Uint8Array | undefined {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    const h = hashBytes(key, 0, key.length) | 0;
    const e = this.find(key, h);
    if (e !== NONE) {
      this.hits++;
      if (e !== this.newest) this.touch(e);
      return this.values[e] ?? undefined;
    }
    this.misses++;
    const value = this.inner.get(key);
    if (!this.admit()) {
      this.missKey = key;
      this.missHash = h;
      this.missExisted = value !== undefined && (this.isLive === undefined || this.isLive(value));
      return value;
    }
    this.insert(key, h, value ?? null, false);
    this.shrink();
    return value;
  }

  override put(key: Uint8Array, value: Uint8Array): void {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    this.checkKey?.(key);
    this.set(key, value);
    this.afterWrite();
  }

  override delete(key: Uint8Array): void {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    this.checkKey?.(key);
    this.set(key, null);
    this.afterWrite();
  }

  override write(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    if (this.closed) throw new StoreClosedError(this.inner.name);
    const checkKey = this.checkKey;
    // all or nothing: every key is checked before the first is taken
    if (checkKey !== undefined) for (let i = 0; i < ops.length; i++) checkKey(ops[i].key);
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
    this.missKey = undefined;
    this.budget?.charge(-this.bytes);
    this.bytes = 0;
    this.keys = [];
    this.values = [];
    this.hashes = new Int32Array(16);
    this.older = new Int32Array(16);
    this.newer = new Int32Array(16);
    this.dirtyFlag = new Uint8Array(16);
    this.free = [];
    this.top = 0;
    this.count = 0;
    this.table = new Int32Array(32);
    this.mask = 31;
    this.oldest = NONE;
    this.newest = NONE;
    this.dirty = [];
  }

  /** Hands every dirty entry down as one `write(ops)`; they stay cached, clean. */
  writeDirty(): void {
    const dirty = this.dirty;
    const n = dirty.length;
    if (n === 0) return;
    // Fresh ops, not the entries: the layers below may keep the records (the changelog queues
    // them) while later writes change the entries.
    const ops: WriteOp<Uint8Array, Uint8Array>[] = new Array(n);
    const keys = this.keys;
    const values = this.values;
    for (let i = 0; i < n; i++) {
      const e = dirty[i];
      ops[i] = { key: keys[e] as Uint8Array, value: values[e] };
    }
    this.inner.write(ops);
    for (let i = 0; i < n; i++) this.dirtyFlag[dirty[i]] = 0;
    this.dirty = [];
    this.batches++;
  }

  private set(key: Uint8Array, value: Uint8Array | null): void {
    const h = hashBytes(key, 0, key.length) | 0;
    const e = this.find(key, h);
    // the remembered miss is stale once its key is written (every write comes through here)
    const mk = this.missKey;
    const missed = mk !== undefined && this.missHash === h && equalBytes(mk, key);
    if (missed) this.missKey = undefined;
    if (e === NONE) {
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
      this.dirty.push(this.insert(key, h, value, true));
      return;
    }
    const old = this.values[e];
    if (value !== null) {
      if (old !== null && (this.isLive === undefined || this.isLive(old))) this.updates++;
      else this.inserts++;
    }
    if (e !== this.newest) this.touch(e);
    const v = owned(value);
    const delta = valueBytes(v) - valueBytes(old);
    this.bytes += delta;
    this.budget?.charge(delta);
    this.values[e] = v;
    if (this.dirtyFlag[e] === 0) {
      this.dirtyFlag[e] = 1;
      this.dirty.push(e);
    }
  }

  private afterWrite(): void {
    if (this.dirty.length >= this.writeBatchSize) this.writeDirty();
    this.shrink();
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
    if (!this.thrashing || !this.full()) return true;
    if (++this.skipped < ADMIT_EVERY) return false;
    this.skipped = 0;
    return true;
  }

  /** Whether one more entry of the usual size would pass a limit (this cache's or the budget's). */
  private full(): boolean {
    if (this.count >= this.maxEntries) return true;
    const typical = this.count === 0 ? CACHE_ENTRY_OVERHEAD : this.bytes / this.count;
    if (this.bytes + typical > this.maxBytes) return true;
    const b = this.budget;
    return b !== undefined && b.usedBytes + typical > b.limitBytes;
  }

  /** The entry of `key` (hash `h`), or NONE. */
  private find(key: Uint8Array, h: number): number {
    const table = this.table;
    const mask = this.mask;
    const hashes = this.hashes;
    const keys = this.keys;
    let i = h & mask;
    for (;;) {
      const s = table[i];
      if (s === 0) return NONE;
      const e = s - 1;
      if (hashes[e] === h && equalBytes(keys[e] as Uint8Array, key)) return e;
      i = (i + 1) & mask;
    }
  }

  /** Adds a new entry as the most recently used; returns its number. */
  private insert(key: Uint8Array, h: number, value: Uint8Array | null, dirty: boolean): number {
    if (2 * (this.count + 1) > this.mask + 1) this.growTable();
    let e: number;
    if (this.free.length > 0) e = this.free.pop() as number;
    else {
      e = this.top++;
      if (e >= this.hashes.length) this.growEntries();
    }
    const k = owned(key);
    const v = owned(value);
    this.keys[e] = k;
    this.values[e] = v;
    this.hashes[e] = h;
    this.dirtyFlag[e] = dirty ? 1 : 0;
    this.older[e] = this.newest;
    this.newer[e] = NONE;
    if (this.newest === NONE) this.oldest = e;
    else this.newer[this.newest] = e;
    this.newest = e;
    const table = this.table;
    const mask = this.mask;
    let i = h & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = e + 1;
    this.count++;
    const size = bytesOf(k, v);
    this.bytes += size;
    this.budget?.charge(size);
    return e;
  }

  /** Moves an entry that is not the newest to the most recently used end. */
  private touch(e: number): void {
    const older = this.older;
    const newer = this.newer;
    const o = older[e];
    const n = newer[e];
    if (o === NONE) this.oldest = n;
    else newer[o] = n;
    older[n] = o;
    older[e] = this.newest;
    newer[e] = NONE;
    newer[this.newest] = e;
    this.newest = e;
  }

  /**
   * Evicts least recently used entries while this cache is over its own limits, then while the
   * shared budget is over its limit (this cache pays for its insert); a dirty entry writes every
   * dirty entry down first.
   */
  private shrink(): void {
    while (this.count > this.maxEntries || this.bytes > this.maxBytes) this.evictOldest();
    const b = this.budget;
    if (b === undefined) return;
    while (b.over && this.count > 0) this.evictOldest();
    b.settle();
  }

  private evictOldest(): void {
    const e = this.oldest;
    if (this.dirtyFlag[e] !== 0) this.writeDirty();
    const n = this.newer[e];
    this.oldest = n;
    if (n === NONE) this.newest = NONE;
    else this.older[n] = NONE;
    this.unindex(e);
    const size = bytesOf(this.keys[e] as Uint8Array, this.values[e]);
    this.bytes -= size;
    this.budget?.charge(-size);
    this.keys[e] = undefined;
    this.values[e] = null;
    this.free.push(e);
    this.count--;
    this.evictions++;
  }

  /** Removes entry `e` from the table (backward-shift deletion: no tombstones). */
  private unindex(e: number): void {
    const table = this.table;
    const mask = this.mask;
    const hashes = this.hashes;
    let i = hashes[e] & mask;
    while (table[i] !== e + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = table[j];
      if (s === 0) break;
      const home = hashes[s - 1] & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      table[i] = s;
      i = j;
    }
    table[i] = 0;
  }

  private growTable(): void {
    const size = 2 * (this.mask + 1);
    const table = new Int32Array(size);
    const mask = size - 1;
    const old = this.table;
    const hashes = this.hashes;
    for (let i = 0; i < old.length; i++) {
      const s = old[i];
      if (s === 0) continue;
      let j = hashes[s - 1] & mask;
      while (table[j] !== 0) j = (j + 1) & mask;
      table[j] = s;
    }
    this.table = table;
    this.mask = mask;
  }

  private growEntries(): void {
    const n = 2 * this.hashes.length;
    const grow = <T extends Int32Array | Uint8Array>(a: T, next: T): T => {
      next.set(a);
      return next;
    };
    this.hashes = grow(this.hashes, new Int32Array(n));
    this.older = grow(this.older, new Int32Array(n));
    this.newer = grow(this.newer, new Int32Array(n));
    this.dirtyFlag = grow(this.dirtyFlag, new Uint8Array(n));
  }
}
