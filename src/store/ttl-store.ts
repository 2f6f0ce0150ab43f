/**
 * The TTL layer: every value is stored with its expiry time in front, `[8-byte float64 BE: expiry
 * ms][value]`, so the changelog carries the expiry and a restored store expires the same entries at
 * the same time. It sits above the cache (the cache holds the stamped bytes) and right below the
 * metrics layer.
 *
 * - A put stamps `now() + ttlMs` (each write renews the entry's life).
 * - An entry whose expiry is `<= now()` reads as absent: `get`, `getAll` and iterators skip it, and
 *   a `get` or a live iterator that meets it deletes it, so its tombstone reaches the changelog.
 * - `flush()` first runs a bounded incremental sweep (`sweepLimit` entries per flush, resuming
 *   where the last one stopped and wrapping around), so entries nobody reads expire too.
 *
 * Corner cases: `snapshot` skips expired entries but never deletes (it is a view of the past);
 * the clock is injectable (`now`); a store's `ttlMs` must not change over its life (values written
 * without a TTL have no stamp: reading them through this layer is a `SerdeError`).
 */
import { asBuffer, describeBytes } from '../util/bytes.js';
import { SerdeError } from '../util/errors.js';
import { MappedIterator } from './store-iterator.js';
import type { Entry, KeyValueIterator, WriteOp } from './types.js';
import { type Bound, type BytesLayer, WrappedStore } from './wrapped-store.js';

const STAMP = 8;

/**
 * Whether a stamped value is live at `now()`: for the layers below this one that hold stamped bytes
 * (the cache tells an insert from an update with it). A value too short to hold a stamp counts as
 * live (reading it through this layer is the `SerdeError`).
 */
export function stampIsLive(now: () => number): (stamped: Uint8Array) => boolean {
  return (stamped) => stamped.length < STAMP || asBuffer(stamped).readDoubleBE(0) > now();
}

export interface TtlStoreOptions {
  readonly ttlMs: number;
  readonly now: () => number;
  /** Entries examined by the sweep of one flush. */
  readonly sweepLimit?: number;
}

export class TtlStore extends WrappedStore {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly sweepLimit: number;
  /** Where the next sweep starts (undefined: the beginning). */
  private sweepFrom: Uint8Array | undefined;
  private expired = 0;
  private swept = 0;

  constructor(inner: BytesLayer, options: TtlStoreOptions) {
    super(inner);
    this.ttlMs = options.ttlMs;
    this.now = options.now;
    this.sweepLimit = options.sweepLimit ?? 1000;
  }

  counters(): Record<string, number> {
    return { ttlExpired: this.expired, ttlSwept: this.swept };
  }

  private stamp(value: Uint8Array, expiry: number): Uint8Array {
    const out = Buffer.allocUnsafe(STAMP + value.length);
    out.writeDoubleBE(expiry, 0);
    out.set(value, STAMP);
    return out;
  }

  private expiryOf(key: Uint8Array, stamped: Uint8Array): number {
    if (stamped.length < STAMP) {
      throw new SerdeError(
        `store "${this.inner.name}": the value of key ${describeBytes(key)} has no TTL stamp (was it written without ttlMs?)`,
      );
    }
    return asBuffer(stamped).readDoubleBE(0);
  }

  override get(key: Uint8Array): Uint8Array | undefined {
    const stamped = this.inner.get(key);
    if (stamped === undefined) return undefined;
    if (this.expiryOf(key, stamped) <= this.now()) {
      this.inner.delete(key);
      this.expired++;
      return undefined;
    }
    return stamped.subarray(STAMP);
  }

  override put(key: Uint8Array, value: Uint8Array): void {
    this.inner.put(key, this.stamp(value, this.now() + this.ttlMs));
  }

  override write(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    const expiry = this.now() + this.ttlMs;
    const stamped: WriteOp<Uint8Array, Uint8Array>[] = new Array(ops.length);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      stamped[i] = op.value === null ? op : { key: op.key, value: this.stamp(op.value, expiry) };
    }
    this.inner.write(stamped);
  }

  override range(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    return new MappedIterator(
      this.inner.range(from as Uint8Array, to as Uint8Array),
      this.liveOrDelete,
      this,
    );
  }

  override prefix(prefix: Uint8Array): KeyValueIterator<Uint8Array, Uint8Array> {
    return new MappedIterator(this.inner.prefix(prefix), this.liveOrDelete, this);
  }

  override all(): KeyValueIterator<Uint8Array, Uint8Array> {
    return new MappedIterator(this.inner.all(), this.liveOrDelete, this);
  }

  override snapshot(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    return new MappedIterator(this.inner.snapshot(from as Uint8Array, to as Uint8Array), this.liveOnly, this);
  }

  override async flush(): Promise<void> {
    if (this.inner.isOpen) this.sweep();
    await this.inner.flush();
  }

  /** Examines up to `sweepLimit` entries from where the last sweep stopped; deletes the expired. */
  sweep(): number {
    const now = this.now();
    const expired: Uint8Array[] = [];
    let seen = 0;
    let last: Uint8Array | undefined;
    const it = this.inner.range(this.sweepFrom as Uint8Array, undefined as unknown as Uint8Array);
    try {
      for (let step = it.next(); !step.done; step = it.next()) {
        const { key, value } = step.value;
        if (this.expiryOf(key, value) <= now) expired.push(key);
        last = key;
        if (++seen >= this.sweepLimit) break;
      }
    } finally {
      it.close();
    }
    // Resume just after the last key examined (key + 0x00 is the next possible key), or wrap.
    this.sweepFrom = seen >= this.sweepLimit && last !== undefined ? Buffer.concat([last, ZERO]) : undefined;
    if (expired.length > 0) {
      this.inner.deleteAll(expired);
      this.expired += expired.length;
      this.swept += expired.length;
    }
    return expired.length;
  }

  private liveOnly(entry: Entry<Uint8Array, Uint8Array>): Entry<Uint8Array, Uint8Array> | undefined {
    if (this.expiryOf(entry.key, entry.value) <= this.now()) return undefined;
    return { key: entry.key, value: entry.value.subarray(STAMP) };
  }

  private liveOrDelete(entry: Entry<Uint8Array, Uint8Array>): Entry<Uint8Array, Uint8Array> | undefined {
    if (this.expiryOf(entry.key, entry.value) <= this.now()) {
      this.inner.delete(entry.key);
      this.expired++;
      return undefined;
    }
    return { key: entry.key, value: entry.value.subarray(STAMP) };
  }
}

const ZERO = Buffer.alloc(1);
