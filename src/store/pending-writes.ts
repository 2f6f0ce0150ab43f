/**
 * Writes a store took that its engine must not hold yet (see `DeferredApply`): the
 * ops in the order they came, and an index that finds a key's latest op, so reads see them. Ops
 * are numbered from 0 for the store's life (`seq`); `take(upTo)` hands over the ops numbered below
 * `upTo`, in order.
 *
 * The index keeps no string per key: a typed hash table from the key's 32-bit hash to the seq of
 * the latest op with that hash, and per op the seq of the previous op with the same hash (a chain).
 * A lookup walks the chain from the newest op and compares key bytes, so the first match is the
 * key's latest op. (A `Map` keyed by latin1 strings cost a string per op and per lookup, and their
 * garbage: scenario 3 on lmdb ran ~12% slower than without deferred writes; with this index it
 * runs ~10% faster, the larger engine transactions paying for the index.)
 *
 * Corner cases: a key's latest op may be a delete (`lookup` returns null: "deleted, do not ask the
 * engine"); the values are the writers' arrays (nobody below the cache mutates them), so a reader
 * gets a copy.
 */
import { equalBytes, hashBytes } from '../util/bytes.js';
import type { WriteOp } from './types.js';

/** Bytes counted per op beyond its key and value (the op, its index entries). */
const OP_OVERHEAD = 64;

export class PendingWrites {
  private ops: WriteOp<Uint8Array, Uint8Array>[] = [];
  /** Per op (same index as `ops`): its key's hash, and the seq of the previous op of that hash (-1: none). */
  private hashes: number[] = [];
  private prev: number[] = [];
  /**
   * Hash → seq of the latest op with it: open addressing in one Int32Array, slot i being
   * `[2i]` = seq + 1 (0: empty) and `[2i + 1]` the hash; at most half full, rebuilt from the ops
   * left at each `take` (no deletion).
   */
  private slots = new Int32Array(2 * 1024);
  private mask = 1023;
  private used = 0;
  /** The seq of `ops[0]`. */
  private base = 0;
  /** About how much memory the pending ops hold. */
  bytes = 0;

  /** How many ops are pending. */
  get size(): number {
    return this.ops.length;
  }

  /** The seq the next op gets: every op below it was added. */
  get end(): number {
    return this.base + this.ops.length;
  }

  add(key: Uint8Array, value: Uint8Array | null): void {
    this.push({ key, value });
  }

  /** Adds `op` itself (the caller does not change it afterwards). */
  push(op: WriteOp<Uint8Array, Uint8Array>): void {
    const h = hashBytes(op.key, 0, op.key.length) | 0;
    if (2 * (this.used + 1) > this.mask + 1) this.rebuild(2 * (this.used + 1));
    const seq = this.end;
    const i = this.slotOf(h);
    const s = this.slots[2 * i];
    if (s === 0) this.used++;
    this.prev.push(s - 1);
    this.slots[2 * i] = seq + 1;
    this.slots[2 * i + 1] = h;
    this.hashes.push(h);
    this.ops.push(op);
    this.bytes += OP_OVERHEAD + op.key.length + (op.value === null ? 0 : op.value.length);
  }

  /** The latest pending value of `key`: null when its latest op is a delete, undefined when none. */
  lookup(key: Uint8Array): Uint8Array | null | undefined {
    if (this.ops.length === 0) return undefined;
    const base = this.base;
    let seq = this.slots[2 * this.slotOf(hashBytes(key, 0, key.length) | 0)] - 1;
    while (seq >= base) {
      const op = this.ops[seq - base];
      if (equalBytes(op.key, key)) return op.value === null ? null : Buffer.from(op.value);
      seq = this.prev[seq - base];
    }
    return undefined;
  }

  /**
   * The ops numbered below `upTo`, in order, left pending (reads still see them). The array is the
   * caller's to read at once: later adds may change it.
   */
  peek(upTo: number): readonly WriteOp<Uint8Array, Uint8Array>[] {
    const n = Math.max(0, Math.min(this.ops.length, upTo - this.base));
    return n === this.ops.length ? this.ops : this.ops.slice(0, n);
  }

  /** Removes and returns the ops numbered below `upTo`, in order. */
  take(upTo: number): WriteOp<Uint8Array, Uint8Array>[] {
    const n = Math.max(0, Math.min(this.ops.length, upTo - this.base));
    if (n === 0) return [];
    // all of them (the usual apply): hand the array over, no copy
    const all = n === this.ops.length;
    const taken = all ? this.ops : this.ops.slice(0, n);
    for (let i = 0; i < n; i++) {
      const op = taken[i];
      this.bytes -= OP_OVERHEAD + op.key.length + (op.value === null ? 0 : op.value.length);
    }
    this.ops = all ? [] : this.ops.slice(n);
    this.hashes = all ? [] : this.hashes.slice(n);
    this.prev = all ? [] : this.prev.slice(n);
    this.base += n;
    this.rebuild(2 * this.ops.length);
    return taken;
  }

  /** Drops every pending op (the store was wiped, or closed after a failure). */
  clear(): void {
    this.base = this.end;
    this.ops = [];
    this.hashes = [];
    this.prev = [];
    this.rebuild(0);
    this.bytes = 0;
  }

  /** The slot of hash `h`: where it is, or the empty slot where its probe run ends. */
  private slotOf(h: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    while (slots[2 * i] !== 0 && slots[2 * i + 1] !== h) i = (i + 1) & mask;
    return i;
  }

  /** A table for at least `n` hashes (at most half full), indexing the ops left. */
  private rebuild(n: number): void {
    let size = 1024;
    while (size < 2 * n) size *= 2;
    if (size !== this.mask + 1) {
      this.slots = new Int32Array(2 * size);
      this.mask = size - 1;
    } else this.slots.fill(0);
    this.used = 0;
    const base = this.base;
    for (let k = 0; k < this.ops.length; k++) {
      const h = this.hashes[k];
      const i = this.slotOf(h);
      const s = this.slots[2 * i];
      if (s === 0) this.used++;
      // chains to ops already taken end here (their seqs are below base)
      this.prev[k] = s - 1 >= base ? s - 1 : -1;
      this.slots[2 * i] = base + k + 1;
      this.slots[2 * i + 1] = h;
    }
  }
}
