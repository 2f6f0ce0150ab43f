/**
 * The memory engine: a hash table of byte keys whose keys and values live off the JS heap, in the
 * chunks of a `RecordArena`, with the key order kept on the side and built only when an ordered
 * read asks for it. Nothing survives `close()` (the `SnapshottedMemoryEngine` next to it adds local
 * snapshot files).
 *
 * Layout, all typed arrays (no JS object per entry):
 * - entries by id: `refs[id]` is the arena ref of the entry's current record (`NO_REF`: deleted);
 * - the index: open addressing with linear probing in one Uint32Array, slot i being `[2i]` = the
 *   arena ref of the key's record + 1 (0: empty) and `[2i + 1]` the key's 32-bit hash side by side
 *   (one cache line per probe), at most 70% full; deletion shifts the probe run back (no
 *   tombstones). The slot holds the ref itself, not the id, so a lookup touches two places at
 *   random (the slot, the record), not three: with a million keys each is a cache and TLB miss.
 *   The record's header holds its id; a record that moves updates its slot and `refs[id]`;
 * - the order: `run`, ids sorted by key; `delta`, ids of keys inserted since the run was built,
 *   sorted; `tail`, ids inserted since the last ordered read, unsorted. A point write never touches
 *   them beyond appending a new key's id to `tail` (an overwrite keeps its id, so its place).
 *   An ordered read sorts the tail into the delta (O(t log t + d)), and the delta is merged into
 *   the run (O(n)) only once it passes an eighth of it, so the run is rebuilt once per n/8 new keys
 *   at most, never per call. Deleted ids stay in place (skipped) until a merge or a purge drops and
 *   frees them.
 *
 * Reads and views:
 * - `get` hashes the key, probes, and copies the value out: the caller owns every returned array.
 * - `range` and `snapshot` are both stable views: they find their bounds by binary search and copy
 *   the refs of the entries in `[from, to)` (4 bytes each, no key or value copied), plus the chunk
 *   list. Records a view can see are never changed: while any view is open an overwrite appends a
 *   new record instead of writing in place, and dropped chunks are never reused. So a cursor is
 *   never disturbed by writes made while it is open, and does not see them.
 * - An overwrite with a value of the same length, while no view is open, writes in place.
 *
 * Space: overwritten and deleted records are dead space in the arena; once it passes a quarter of
 * the arena, each write batch moves the live records of the chunk with most dead bytes and drops
 * it (at most 16 MiB moved per batch). `expectedKeys` pre-sizes the index and the first chunk.
 *
 * Corner cases: `write` checks every op before applying any, so a bad batch writes nothing; the
 * metadata is a field apart from the keys; after `close()` every call throws `StoreClosedError`,
 * `close()` itself is idempotent.
 */
import { hashBytes } from '../../util/bytes.js';
import { EngineError, InvalidKeyError, InvalidValueError, StoreClosedError } from '../../util/errors.js';
import type {
  EngineCursor,
  EngineEntry,
  EngineSupports,
  SpanBatch,
  StorageEngine,
  WriteOp,
} from '../types.js';
import { chunkOf, HEADER, NO_REF, offsetOf, RecordArena, readU32 } from './record-arena.js';

export interface MemoryEngineOptions {
  /** Keys the engine is expected to hold: sizes the index up front (no rehash up to there). */
  readonly expectedKeys?: number;
}

const MAX_LOAD = 0.7;
/** The delta is merged into the run once it is longer than this, or an eighth of the run. */
const MIN_DELTA = 4096;
/** Radix sort packs an index below this into each key prefix (2^29: prefix * 2^29 + i < 2^53). */
const INDEX_SPAN = 2 ** 29;
/** The most bytes of records a load copies into the arena at once (a chunk's most). */
const MAX_BLOCK = 1 << 24;

function pow2AtLeast(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

/** A stable list of records: a cursor over it, or the raw stream a snapshot file is written from. */
export class MemoryView implements EngineCursor {
  private pos = 0;
  private done = false;

  constructor(
    private readonly owner: MemoryEngine,
    private readonly generation: number,
    private readonly refs: Uint32Array,
    /** Records in the view. */
    readonly count: number,
    private readonly chunks: readonly (Buffer | undefined)[],
    /** True when the records come in key order. */
    readonly sorted: boolean,
  ) {}

  next(): EngineEntry | undefined {
    if (this.done || this.pos >= this.count) {
      this.close();
      return undefined;
    }
    const ref = this.refs[this.pos++];
    const b = this.chunks[chunkOf(ref)] as Buffer;
    const at = offsetOf(ref);
    const kl = readU32(b, at + 4);
    const vl = readU32(b, at + 8);
    const key = Buffer.allocUnsafe(kl);
    b.copy(key, 0, at + HEADER, at + HEADER + kl);
    const value = Buffer.allocUnsafe(vl);
    b.copy(value, 0, at + HEADER + kl, at + HEADER + kl + vl);
    return { key, value };
  }

  /**
   * Copies the next records, as `[u32, unused][key length u32][value length u32][key][value]`,
   * into `out` from `at` for as long as they fit; returns where it stopped. Records that follow
   * each other in the arena go in one copy. A record larger than `out` is never copied: size `out`
   * with `largestRecord` first.
   */
  fill(out: Buffer, at: number): number {
    if (this.done) return at;
    let pos = at;
    const refs = this.refs;
    const chunks = this.chunks;
    let runChunk: Buffer | undefined;
    let runFrom = 0;
    let runEnd = 0;
    while (this.pos < this.count) {
      const ref = refs[this.pos];
      const b = chunks[ref >>> 24] as Buffer;
      const from = ref & 0xffffff;
      const size = HEADER + readU32(b, from + 4) + readU32(b, from + 8);
      if (pos + (runEnd - runFrom) + size > out.length) break;
      if (b === runChunk && from === runEnd) runEnd += size;
      else {
        if (runChunk !== undefined) pos += runChunk.copy(out, pos, runFrom, runEnd);
        runChunk = b;
        runFrom = from;
        runEnd = from + size;
      }
      this.pos++;
    }
    if (runChunk !== undefined) pos += runChunk.copy(out, pos, runFrom, runEnd);
    return pos;
  }

  /** Bytes of the largest record of the view in the `fill` format. */
  largestRecord(): number {
    let most = 0;
    for (let i = 0; i < this.count; i++) {
      const ref = this.refs[i];
      const b = this.chunks[ref >>> 24] as Buffer;
      const size = HEADER + readU32(b, (ref & 0xffffff) + 4) + readU32(b, (ref & 0xffffff) + 8);
      if (size > most) most = size;
    }
    return most;
  }

  /** True once every record was read or filled. */
  get exhausted(): boolean {
    return this.pos >= this.count;
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.owner.releaseView(this.generation);
  }
}

/** The hash-table `StorageEngine` held in memory. */
export class MemoryEngine implements StorageEngine {
  readonly kind = 'memory';
  readonly supports: EngineSupports = { persistent: false };
  private arena: RecordArena;
  private refs: Uint32Array;
  private idTop = 0;
  private freeIds: number[] = [];
  /** Slot i: `[2i]` the record's ref + 1 (0: empty), `[2i + 1]` the key's hash. */
  private slots: Uint32Array;
  private mask: number;
  private count = 0;
  private run = new Uint32Array(0);
  private runLen = 0;
  private delta = new Uint32Array(0);
  private deltaLen = 0;
  private tail: Uint32Array;
  private tailLen = 0;
  /** Deleted ids still in run, delta or tail (freed when a merge or purge drops them). */
  private deletedPending = 0;
  /** Open views of the current generation: while any is open, nothing is written in place. */
  private views = 0;
  private generation = 0;
  private meta: Buffer | undefined;
  private closed = false;
  private readonly expectedKeys: number;

  constructor(
    readonly name = 'memory',
    options: MemoryEngineOptions = {},
  ) {
    this.expectedKeys = Math.max(0, Math.floor(options.expectedKeys ?? 0));
    this.arena = new RecordArena(name, this.expectedKeys * 64);
    const slots = pow2AtLeast(Math.ceil(this.expectedKeys / MAX_LOAD) + 1);
    this.slots = new Uint32Array(2 * slots);
    this.mask = slots - 1;
    this.refs = new Uint32Array(Math.max(16, this.expectedKeys));
    this.tail = new Uint32Array(Math.max(16, this.expectedKeys));
  }

  /** Number of keys held (for tests and stats). */
  get size(): number {
    return this.count;
  }

  /** Bytes held off the JS heap: the arena's chunks and the typed arrays of the index and order. */
  memoryStats(): { arenaBytes: number; liveBytes: number; deadBytes: number; indexBytes: number } {
    const a = this.arena;
    const indexBytes =
      this.slots.byteLength +
      this.refs.byteLength +
      this.run.byteLength +
      this.delta.byteLength +
      this.tail.byteLength;
    return { arenaBytes: a.allocatedBytes, liveBytes: a.liveBytes, deadBytes: a.deadBytes, indexBytes };
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.check();
    const s = this.slots[2 * this.probe(key, hashBytes(key, 0, key.length))];
    if (s === 0) return undefined;
    const ref = s - 1;
    const b = this.arena.chunks[ref >>> 24] as Buffer;
    const at = (ref & 0xffffff) + HEADER + readU32(b, (ref & 0xffffff) + 4);
    const vl = readU32(b, (ref & 0xffffff) + 8);
    const out = Buffer.allocUnsafe(vl);
    b.copy(out, 0, at, at + vl);
    return out;
  }

  /** See `StorageEngine.keyCount`. */
  keyCount(): number {
    return this.count;
  }

  /** Whether `key` is held: a probe, no copy. */
  has(key: Uint8Array): boolean {
    this.check();
    return this.slots[2 * this.probe(key, hashBytes(key, 0, key.length))] !== 0;
  }

  /** A write of one put (and the metadata, when given): `write` without the batch. */
  put(key: Uint8Array, value: Uint8Array, meta?: Uint8Array): void {
    this.check();
    if (!(key instanceof Uint8Array))
      throw new InvalidKeyError(`engine "${this.name}": a put without a byte key`);
    if (!(value instanceof Uint8Array)) {
      throw new InvalidValueError(`engine "${this.name}": a put without a byte value`);
    }
    this.set(key, value);
    if (meta !== undefined) this.meta = Buffer.from(meta);
    if (this.arena.deadBytes > 0) this.compactOne();
  }

  /** A write of one delete (and the metadata, when given). */
  delete(key: Uint8Array, meta?: Uint8Array): void {
    this.check();
    if (!(key instanceof Uint8Array))
      throw new InvalidKeyError(`engine "${this.name}": a delete without a byte key`);
    this.remove(key);
    if (meta !== undefined) this.meta = Buffer.from(meta);
    if (this.arena.deadBytes > 0) this.compactOne();
  }

  write(ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array): void {
    this.check();
    // Check the whole batch before touching anything: a bad op writes nothing (atomic batch).
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (!(op?.key instanceof Uint8Array)) {
        throw new InvalidKeyError(
          `engine "${this.name}": op ${i} of the batch has no byte key; nothing was written`,
        );
      }
      if (op.value !== null && !(op.value instanceof Uint8Array)) {
        throw new InvalidValueError(
          `engine "${this.name}": op ${i} of the batch has no byte value; nothing was written`,
        );
      }
    }
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.value === null) this.remove(op.key);
      else this.set(op.key, op.value);
    }
    if (meta !== undefined) this.meta = Buffer.from(meta);
    if (ops.length > 0 && this.arena.deadBytes > 0) this.compactOne();
  }

  /**
   * The bulk path of a restore (`StorageEngine.writeSpans`): each op's key is hashed and probed where
   * it lies in the batch's buffer, and its record is appended to the arena straight from there (an
   * overwrite of the same length in place): no object, no copy of a key or value but into the
   * arena. The table grows at most once per batch. New keys go to the unsorted tail, as with
   * `write`: the order is built only when an ordered read asks for it.
   */
  writeSpans(batches: readonly SpanBatch[], meta?: Uint8Array): void {
    this.check();
    for (let b = 0; b < batches.length; b++) {
      const { buf, count, keyStart, keyLength, valueStart, valueLength } = batches[b];
      if (this.count + count > (this.mask + 1) * MAX_LOAD) this.growTable(this.count + count);
      for (let i = 0; i < count; i++) {
        const kl = keyLength[i];
        if (kl < 0) continue;
        const ka = keyStart[i];
        const h = hashBytes(buf, ka, kl);
        const slot = this.probeAt(buf, ka, kl, h);
        const vl = valueLength[i];
        if (vl < 0) this.removeAt(slot);
        else this.setAt(slot, h, buf, ka, kl, valueStart[i], vl);
      }
    }
    if (meta !== undefined) this.meta = Buffer.from(meta);
    if (this.arena.deadBytes > 0) this.compactOne();
  }

  range(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor {
    return this.snapshot(from, to);
  }

  snapshot(from: Uint8Array | undefined, to: Uint8Array | undefined): MemoryView {
    this.check();
    this.order();
    const run = this.run;
    const delta = this.delta;
    const refs = this.refs;
    const rs = from === undefined ? 0 : this.lowerBound(run, this.runLen, from);
    const re = to === undefined ? this.runLen : this.lowerBound(run, this.runLen, to);
    const ds = from === undefined ? 0 : this.lowerBound(delta, this.deltaLen, from);
    const de = to === undefined ? this.deltaLen : this.lowerBound(delta, this.deltaLen, to);
    const out = new Uint32Array(Math.max(0, re - rs) + Math.max(0, de - ds));
    let n = 0;
    let i = rs;
    let j = ds;
    while (i < re && j < de) {
      const a = run[i];
      if (refs[a] === NO_REF) {
        i++;
        continue;
      }
      const d = delta[j];
      if (refs[d] === NO_REF) {
        j++;
        continue;
      }
      if (this.compareIds(a, d) < 0) {
        out[n++] = refs[a];
        i++;
      } else {
        out[n++] = refs[d];
        j++;
      }
    }
    for (; i < re; i++) if (refs[run[i]] !== NO_REF) out[n++] = refs[run[i]];
    for (; j < de; j++) if (refs[delta[j]] !== NO_REF) out[n++] = refs[delta[j]];
    return this.openView(out, n, true);
  }

  /**
   * Every record as it is now, in key order when the order is built already (else in no order, so
   * that taking it never sorts): what a snapshot file is written from. Close it when done.
   */
  exportView(): MemoryView {
    this.check();
    const refs = this.refs;
    const out = new Uint32Array(this.count);
    let n = 0;
    const sorted = this.tailLen === 0 && this.deltaLen === 0;
    if (sorted) {
      for (let i = 0; i < this.runLen; i++) if (refs[this.run[i]] !== NO_REF) out[n++] = refs[this.run[i]];
    } else {
      for (let id = 0; id < this.idTop; id++) if (refs[id] !== NO_REF) out[n++] = refs[id];
    }
    return this.openView(out, n, sorted);
  }

  /**
   * Makes this empty engine ready to load `expected` records (a snapshot file's), in key order when
   * `sorted`. Then `loadRecords` takes the records, in as many slices as it likes.
   */
  prepareLoad(expected: number, sorted: boolean): void {
    this.check();
    if (this.count > 0 || this.idTop > 0) throw new RangeError('a load needs an empty engine');
    this.reserveIds(expected);
    this.growTable(expected);
    if (sorted) this.run = new Uint32Array(expected);
    else if (this.tail.length < expected) this.tail = new Uint32Array(expected);
  }

  /**
   * Loads the complete records in the `MemoryView.fill` format of `src[start, end)`, trusting that
   * their keys are distinct and new (the file's checksum is checked by the caller); returns where
   * the first incomplete record starts (`end` when none). Records go into the arena as blocks of
   * up to 16 MiB, one copy each; then each gets its id and its slot.
   */
  loadRecords(src: Buffer, start: number, end: number, sorted: boolean): number {
    this.check();
    let pos = start;
    for (;;) {
      let stop = pos;
      while (stop + HEADER <= end) {
        const size = HEADER + readU32(src, stop + 4) + readU32(src, stop + 8);
        if (stop + size > end || (stop > pos && stop + size - pos > MAX_BLOCK)) break;
        stop += size;
      }
      if (stop === pos) return pos;
      const base = this.arena.appendBlock(src, pos, stop);
      const b = this.arena.chunks[base >>> 24] as Buffer;
      const first = base & 0xffffff;
      const last = first + (stop - pos);
      // the table as `prepareLoad` sized it, grown only if the records outnumber the header's count
      // (checked per record: sizing it for the worst case of a block would double it for nothing)
      let mask = this.mask;
      let slots = this.slots;
      let room = Math.floor((mask + 1) * MAX_LOAD);
      for (let at = first; at < last; ) {
        const kl = readU32(b, at + 4);
        const vl = readU32(b, at + 8);
        if (this.count + 1 > room) {
          this.growTable(this.count + 1);
          mask = this.mask;
          slots = this.slots;
          room = Math.floor((mask + 1) * MAX_LOAD);
        }
        const id = this.idTop++;
        if (id >= this.refs.length) this.reserveIds(id + 1);
        b[at] = id & 0xff;
        b[at + 1] = (id >>> 8) & 0xff;
        b[at + 2] = (id >>> 16) & 0xff;
        b[at + 3] = id >>> 24;
        this.refs[id] = base - first + at;
        const h = hashBytes(b, at + HEADER, kl);
        let i = h & mask;
        while (slots[2 * i] !== 0) i = (i + 1) & mask;
        slots[2 * i] = base - first + at + 1;
        slots[2 * i + 1] = h;
        this.count++;
        if (sorted) {
          if (this.runLen >= this.run.length) this.run = grow(this.run, this.runLen + 1);
          this.run[this.runLen++] = id;
        } else this.pushTail(id);
        at += HEADER + kl + vl;
      }
      pos = stop;
    }
  }

  readMeta(): Uint8Array | undefined {
    this.check();
    return this.meta === undefined ? undefined : Buffer.from(this.meta);
  }

  clear(): void {
    this.check();
    this.reset();
  }

  async flush(): Promise<void> {
    this.check();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reset();
  }

  /** Called by a view's `close()`. */
  releaseView(generation: number): void {
    if (generation === this.generation) this.views--;
  }

  private openView(refs: Uint32Array, n: number, sorted: boolean): MemoryView {
    this.views++;
    return new MemoryView(this, this.generation, refs, n, this.arena.chunks.slice(), sorted);
  }

  private reset(): void {
    this.arena = new RecordArena(this.name, this.expectedKeys * 64);
    const slots = pow2AtLeast(Math.ceil(this.expectedKeys / MAX_LOAD) + 1);
    this.slots = new Uint32Array(2 * slots);
    this.mask = slots - 1;
    this.refs = new Uint32Array(Math.max(16, this.expectedKeys));
    this.idTop = 0;
    this.freeIds = [];
    this.count = 0;
    this.run = new Uint32Array(0);
    this.runLen = 0;
    this.delta = new Uint32Array(0);
    this.deltaLen = 0;
    this.tail = new Uint32Array(16);
    this.tailLen = 0;
    this.deletedPending = 0;
    // open views keep the old chunks; their close must not count against the new generation
    this.generation++;
    this.views = 0;
    this.meta = undefined;
  }

  /** The slot of `key`: where it is, or the empty slot where its probe run ends. */
  private probe(key: Uint8Array, h: number): number {
    return this.probeAt(key, 0, key.length, h);
  }

  /** `probe` of the key `src[ka, ka + kl)`. */
  private probeAt(src: Uint8Array, ka: number, kl: number, h: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    for (;;) {
      const s = slots[2 * i];
      if (s === 0) return i;
      if (slots[2 * i + 1] === h) {
        const ref = s - 1;
        const b = this.arena.chunks[ref >>> 24] as Buffer;
        const at = ref & 0xffffff;
        if (readU32(b, at + 4) === kl) {
          const k = at + HEADER;
          let j = 0;
          while (j < kl && b[k + j] === src[ka + j]) j++;
          if (j === kl) return i;
        }
      }
      i = (i + 1) & mask;
    }
  }

  private set(key: Uint8Array, value: Uint8Array): void {
    const h = hashBytes(key, 0, key.length);
    let i = this.probe(key, h);
    const s = this.slots[2 * i];
    if (s !== 0) {
      const ref = s - 1;
      const b = this.arena.chunks[ref >>> 24] as Buffer;
      if (this.views === 0 && readU32(b, (ref & 0xffffff) + 8) === value.length) {
        this.arena.overwriteValue(ref, value);
        return;
      }
      const id = readU32(b, ref & 0xffffff);
      const moved = this.arena.append(id, key, value);
      this.refs[id] = moved;
      this.slots[2 * i] = moved + 1;
      this.arena.markDead(ref);
      return;
    }
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) {
      this.growTable(this.count + 1);
      i = this.probe(key, h);
    }
    const id = this.freeIds.length > 0 ? (this.freeIds.pop() as number) : this.idTop++;
    if (id >= this.refs.length) this.reserveIds(id + 1);
    const ref = this.arena.append(id, key, value);
    this.refs[id] = ref;
    this.slots[2 * i] = ref + 1;
    this.slots[2 * i + 1] = h;
    this.count++;
    this.pushTail(id);
  }

  /**
   * `set` of the key `src[ka, ka + kl)` (hash `h`, found at or missing from `slot`) to the value
   * `src[va, va + vl)`. The table must have room for one more key.
   */
  private setAt(
    slot: number,
    h: number,
    src: Uint8Array,
    ka: number,
    kl: number,
    va: number,
    vl: number,
  ): void {
    const s = this.slots[2 * slot];
    if (s !== 0) {
      const ref = s - 1;
      const b = this.arena.chunks[ref >>> 24] as Buffer;
      if (this.views === 0 && readU32(b, (ref & 0xffffff) + 8) === vl) {
        this.arena.overwriteValueAt(ref, src, va, vl);
        return;
      }
      const id = readU32(b, ref & 0xffffff);
      const moved = this.arena.appendAt(id, src, ka, kl, va, vl);
      this.refs[id] = moved;
      this.slots[2 * slot] = moved + 1;
      this.arena.markDead(ref);
      return;
    }
    const id = this.freeIds.length > 0 ? (this.freeIds.pop() as number) : this.idTop++;
    if (id >= this.refs.length) this.reserveIds(id + 1);
    const ref = this.arena.appendAt(id, src, ka, kl, va, vl);
    this.refs[id] = ref;
    this.slots[2 * slot] = ref + 1;
    this.slots[2 * slot + 1] = h;
    this.count++;
    this.pushTail(id);
  }

  private remove(key: Uint8Array): void {
    this.removeAt(this.probe(key, hashBytes(key, 0, key.length)));
  }

  /** Removes the key of `slot` (found by `probe`; nothing when the slot is empty). */
  private removeAt(slot: number): void {
    let i = slot;
    const s = this.slots[2 * i];
    if (s === 0) return;
    const ref = s - 1;
    const id = readU32(this.arena.chunks[ref >>> 24] as Buffer, ref & 0xffffff);
    this.arena.markDead(ref);
    this.refs[id] = NO_REF;
    this.count--;
    this.deletedPending++;
    // backward-shift deletion: move later entries of the probe run into the hole
    const slots = this.slots;
    const mask = this.mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (slots[2 * j] === 0) break;
      const home = slots[2 * j + 1] & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      slots[2 * i] = slots[2 * j];
      slots[2 * i + 1] = slots[2 * j + 1];
      i = j;
    }
    slots[2 * i] = 0;
    if (this.deletedPending > MIN_DELTA && this.deletedPending > this.count) this.purge();
  }

  private pushTail(id: number): void {
    if (this.tailLen >= this.tail.length) this.tail = grow(this.tail, this.tailLen + 1);
    this.tail[this.tailLen++] = id;
  }

  private reserveIds(n: number): void {
    if (n <= this.refs.length) return;
    const next = new Uint32Array(Math.max(n, Math.ceil(this.refs.length * 1.5)));
    next.set(this.refs);
    this.refs = next;
  }

  /** Rehashes into a table that holds `n` keys under the load limit. */
  private growTable(n: number): void {
    const size = pow2AtLeast(Math.ceil(n / MAX_LOAD) + 1);
    if (size <= this.mask + 1) return;
    const slots = new Uint32Array(2 * size);
    const mask = size - 1;
    const old = this.slots;
    for (let k = 0; k < old.length; k += 2) {
      const s = old[k];
      if (s === 0) continue;
      const h = old[k + 1];
      let i = h & mask;
      while (slots[2 * i] !== 0) i = (i + 1) & mask;
      slots[2 * i] = s;
      slots[2 * i + 1] = h;
    }
    this.slots = slots;
    this.mask = mask;
  }

  /** Moves the live records of the chunk most worth it, then drops that chunk. */
  private compactOne(): void {
    const arena = this.arena;
    const c = arena.compactionCandidate();
    if (c < 0) return;
    const b = arena.chunks[c] as Buffer;
    const end = arena.usedOf(c);
    const refs = this.refs;
    const base = c * 0x1000000;
    let at = 0;
    while (at + HEADER <= end) {
      const id = readU32(b, at);
      const kl = readU32(b, at + 4);
      const vl = readU32(b, at + 8);
      if (id < this.idTop && refs[id] === base + at) {
        const moved = arena.appendFrom(id, b, at + HEADER, kl, at + HEADER + kl, vl);
        refs[id] = moved;
        this.repoint(hashBytes(b, at + HEADER, kl), base + at, moved);
      }
      at += HEADER + kl + vl;
    }
    arena.drop(c);
  }

  /** Points the slot that holds `ref` (its key hashing to `h`) at `moved`. */
  private repoint(h: number, ref: number, moved: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    for (let n = 0; n <= mask; n++, i = (i + 1) & mask) {
      if (slots[2 * i] === ref + 1) {
        slots[2 * i] = moved + 1;
        return;
      }
    }
    throw new EngineError(`memory engine "${this.name}": a moved record has no slot (internal error)`);
  }

  /** Brings the order up to date: sorts the tail into the delta, merges a large delta into the run. */
  private order(): void {
    if (this.deletedPending > MIN_DELTA && this.deletedPending * 16 > this.runLen) this.purge();
    if (this.tailLen > 0) {
      const n = this.keepLive(this.tail, this.tailLen);
      this.tailLen = 0;
      const sorted = this.tail.subarray(0, n);
      this.sortIds(sorted, 0);
      const merged = this.merge(this.delta, this.deltaLen, sorted, n);
      this.delta = merged;
      this.deltaLen = merged.length;
      if (this.tail.length > 4 * MIN_DELTA) this.tail = new Uint32Array(16);
    }
    if (this.deltaLen > MIN_DELTA && this.deltaLen * 8 > this.runLen) {
      this.run = this.merge(this.run, this.runLen, this.delta, this.deltaLen);
      this.runLen = this.run.length;
      this.delta = new Uint32Array(0);
      this.deltaLen = 0;
    }
  }

  /** Drops the deleted ids of `ids[0, n)` (freeing them), keeping the order; returns the new length. */
  private keepLive(ids: Uint32Array, n: number): number {
    const refs = this.refs;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (refs[id] === NO_REF) {
        this.freeIds.push(id);
        this.deletedPending--;
      } else ids[k++] = id;
    }
    return k;
  }

  /** Drops every deleted id from the run, the delta and the tail, and frees them. */
  private purge(): void {
    this.runLen = this.keepLive(this.run, this.runLen);
    this.deltaLen = this.keepLive(this.delta, this.deltaLen);
    this.tailLen = this.keepLive(this.tail, this.tailLen);
  }

  /** Merges two sorted id lists (live keys distinct), dropping and freeing deleted ids. */
  private merge(a: Uint32Array, an: number, b: Uint32Array, bn: number): Uint32Array<ArrayBuffer> {
    an = this.keepLive(a, an);
    bn = this.keepLive(b, bn);
    const out = new Uint32Array(an + bn);
    let i = 0;
    let j = 0;
    let n = 0;
    while (i < an && j < bn) {
      if (this.compareIds(a[i], b[j]) < 0) out[n++] = a[i++];
      else out[n++] = b[j++];
    }
    while (i < an) out[n++] = a[i++];
    while (j < bn) out[n++] = b[j++];
    return out;
  }

  /**
   * Sorts live ids by key, in place: most-significant-digit radix on 3 key bytes at a time (each
   * level one pass to pack `prefix * 2^29 + index` into a Float64Array, one native numeric sort,
   * one permutation), recursing into runs of equal prefix; small runs, and runs whose keys end
   * within these 3 bytes, are sorted by the full comparison. Far fewer byte compares than a
   * comparison sort over keys with long common prefixes.
   */
  private sortIds(ids: Uint32Array, depth: number): void {
    const n = ids.length;
    if (n < 64 || n >= INDEX_SPAN) {
      ids.sort(this.compareIds);
      return;
    }
    const refs = this.refs;
    const chunks = this.arena.chunks;
    const packed = new Float64Array(n);
    let longer = false;
    for (let i = 0; i < n; i++) {
      const ref = refs[ids[i]];
      const b = chunks[ref >>> 24] as Buffer;
      const at = ref & 0xffffff;
      const rest = readU32(b, at + 4) - depth;
      const k = at + HEADER + depth;
      const p =
        rest >= 3
          ? (b[k] << 16) | (b[k + 1] << 8) | b[k + 2]
          : rest === 2
            ? (b[k] << 16) | (b[k + 1] << 8)
            : rest === 1
              ? b[k] << 16
              : 0;
      if (rest > 3) longer = true;
      packed[i] = p * INDEX_SPAN + i;
    }
    packed.sort();
    const copy = ids.slice();
    for (let i = 0; i < n; i++) ids[i] = copy[packed[i] % INDEX_SPAN];
    // runs of one prefix: order them by what follows
    let start = 0;
    let prefix = Math.floor(packed[0] / INDEX_SPAN);
    for (let i = 1; i <= n; i++) {
      const p = i < n ? Math.floor(packed[i] / INDEX_SPAN) : -1;
      if (p === prefix) continue;
      if (i - start > 1) {
        const run = ids.subarray(start, i);
        if (longer) this.sortIds(run, depth + 3);
        else run.sort(this.compareIds);
      }
      start = i;
      prefix = p;
    }
  }

  /** Unsigned byte order of the keys of two live entries. */
  private readonly compareIds = (x: number, y: number): number => {
    const chunks = this.arena.chunks;
    const rx = this.refs[x];
    const ry = this.refs[y];
    const bx = chunks[rx >>> 24] as Buffer;
    const by = chunks[ry >>> 24] as Buffer;
    const ax = rx & 0xffffff;
    const ay = ry & 0xffffff;
    const lx = readU32(bx, ax + 4);
    const ly = readU32(by, ay + 4);
    const n = Math.min(lx, ly);
    const kx = ax + HEADER;
    const ky = ay + HEADER;
    for (let i = 0; i < n; i++) {
      const d = bx[kx + i] - by[ky + i];
      if (d !== 0) return d;
    }
    return lx - ly;
  };

  /** Unsigned byte order of `key` against the key of a live entry. */
  private compareToId(key: Uint8Array, id: number): number {
    const ref = this.refs[id];
    const b = this.arena.chunks[ref >>> 24] as Buffer;
    const at = ref & 0xffffff;
    const l = readU32(b, at + 4);
    const n = Math.min(key.length, l);
    const k = at + HEADER;
    for (let i = 0; i < n; i++) {
      const d = key[i] - b[k + i];
      if (d !== 0) return d;
    }
    return key.length - l;
  }

  /**
   * The first index of `ids[0, n)` from which every live entry has a key >= `key` (deleted ids,
   * which have no key any more, are stepped over).
   */
  private lowerBound(ids: Uint32Array, n: number, key: Uint8Array): number {
    const refs = this.refs;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      let m = mid;
      while (m < hi && refs[ids[m]] === NO_REF) m++;
      if (m === hi) hi = mid;
      else if (this.compareToId(key, ids[m]) > 0) lo = m + 1;
      else hi = mid;
    }
    return lo;
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError(this.name);
  }
}

function grow(a: Uint32Array, n: number): Uint32Array<ArrayBuffer> {
  const next = new Uint32Array(Math.max(n, a.length * 2, 16));
  next.set(a);
  return next;
}
