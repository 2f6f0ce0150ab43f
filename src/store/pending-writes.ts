/**
 * Writes a store took that its engine must not hold yet (see `EngineStore`'s deferred writes): the
 * ops in the order they came, and for each key its latest op, so reads see them. Ops are numbered
 * from 0 for the store's life (`seq`); `take(upTo)` hands over the ops numbered below `upTo`, in
 * order, and forgets the keys whose latest op is among them.
 *
 * Corner cases: a key's latest op may be a delete (`lookup` returns null: "deleted, do not ask the
 * engine"); the values are the writers' arrays (nobody below the cache mutates them), so a reader
 * gets a copy.
 */
import { latin1Id } from '../util/bytes.js';
import type { WriteOp } from './types.js';

/** Bytes counted per op beyond its key and value (the op, the map entry). */
const OP_OVERHEAD = 64;

export class PendingWrites {
  private ops: WriteOp<Uint8Array, Uint8Array>[] = [];
  private readonly latest = new Map<string, { value: Uint8Array | null; seq: number }>();
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
    this.latest.set(latin1Id(key), { value, seq: this.end });
    this.ops.push({ key, value });
    this.bytes += OP_OVERHEAD + key.length + (value === null ? 0 : value.length);
  }

  /** The latest pending value of `key`: null when its latest op is a delete, undefined when none. */
  lookup(key: Uint8Array): Uint8Array | null | undefined {
    if (this.latest.size === 0) return undefined;
    const entry = this.latest.get(latin1Id(key));
    if (entry === undefined) return undefined;
    return entry.value === null ? null : Buffer.from(entry.value);
  }

  /** Removes and returns the ops numbered below `upTo`, in order. */
  take(upTo: number): WriteOp<Uint8Array, Uint8Array>[] {
    const n = Math.max(0, Math.min(this.ops.length, upTo - this.base));
    if (n === 0) return [];
    const taken = n === this.ops.length ? this.ops : this.ops.slice(0, n);
    this.ops = n === this.ops.length ? [] : this.ops.slice(n);
    const limit = this.base + n;
    for (const op of taken) {
      const id = latin1Id(op.key);
      const entry = this.latest.get(id);
      if (entry !== undefined && entry.seq < limit) this.latest.delete(id);
      this.bytes -= OP_OVERHEAD + op.key.length + (op.value === null ? 0 : op.value.length);
    }
    this.base = limit;
    return taken;
  }

  /** Drops every pending op (the store was wiped, or closed after a failure). */
  clear(): void {
    this.base = this.end;
    this.ops = [];
    this.latest.clear();
    this.bytes = 0;
  }
}
