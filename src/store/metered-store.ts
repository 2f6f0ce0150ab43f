/**
 * The metrics layer: counts what passes through it, on bytes (it sits right below the serde layer,
 * so byte counts are exact and nothing is encoded twice), and reads the counters of the layers that
 * keep their own (the cache's hits and misses, the TTL layer's expirations).
 *
 * `metrics()` is a plain snapshot object (no registry, no timers): gets, puts, deletes, ranges,
 * range entries, bytes read and written, flushes and their latency, restore records/bytes/time,
 * plus whatever the counter sources add. Deletes count their key bytes as written.
 *
 * Corner cases: `getAll`, `putAll` and `deleteAll` count per key; an iterator's entries are counted
 * as they are read (`rangeEntries`, `bytesRead`); a failed flush is not counted.
 */
import { MappedIterator } from './store-iterator.js';
import type { Entry, KeyValueIterator, WriteOp } from './types.js';
import { type Bound, type BytesLayer, WrappedStore } from './wrapped-store.js';

export interface StoreMetrics {
  gets: number;
  puts: number;
  deletes: number;
  ranges: number;
  rangeEntries: number;
  bytesRead: number;
  bytesWritten: number;
  flushes: number;
  flushMsTotal: number;
  flushMsMax: number;
  lastFlushMs: number;
  restoreRecords: number;
  restoreBytes: number;
  restoreMs: number;
  /** Counters of other layers (cache hits/misses, TTL expirations…). */
  [counter: string]: number;
}

export type CounterSource = () => Readonly<Record<string, number>>;

export class MeteredStore extends WrappedStore {
  private readonly m: StoreMetrics = {
    gets: 0,
    puts: 0,
    deletes: 0,
    ranges: 0,
    rangeEntries: 0,
    bytesRead: 0,
    bytesWritten: 0,
    flushes: 0,
    flushMsTotal: 0,
    flushMsMax: 0,
    lastFlushMs: 0,
    restoreRecords: 0,
    restoreBytes: 0,
    restoreMs: 0,
  };

  constructor(
    inner: BytesLayer,
    private readonly sources: readonly CounterSource[] = [],
  ) {
    super(inner);
  }

  /** A plain snapshot of every counter. */
  metrics(): StoreMetrics {
    const out: StoreMetrics = { ...this.m };
    for (const source of this.sources) Object.assign(out, source());
    return out;
  }

  /** Adds a restore run (the store's `restore` writes below this layer and reports here). */
  recordRestore(records: number, bytes: number, ms: number): void {
    this.m.restoreRecords += records;
    this.m.restoreBytes += bytes;
    this.m.restoreMs += ms;
  }

  override get(key: Uint8Array): Uint8Array | undefined {
    const value = this.inner.get(key);
    const m = this.m;
    m.gets++;
    if (value !== undefined) m.bytesRead += key.length + value.length;
    return value;
  }

  override put(key: Uint8Array, value: Uint8Array): void {
    this.inner.put(key, value);
    this.m.puts++;
    this.m.bytesWritten += key.length + value.length;
  }

  override delete(key: Uint8Array): void {
    this.inner.delete(key);
    this.m.deletes++;
    this.m.bytesWritten += key.length;
  }

  override write(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    this.inner.write(ops);
    const m = this.m;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.value === null) {
        m.deletes++;
        m.bytesWritten += op.key.length;
      } else {
        m.puts++;
        m.bytesWritten += op.key.length + op.value.length;
      }
    }
  }

  override range(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.counted(this.inner.range(from as Uint8Array, to as Uint8Array));
  }

  override prefix(prefix: Uint8Array): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.counted(this.inner.prefix(prefix));
  }

  override all(): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.counted(this.inner.all());
  }

  override snapshot(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.counted(this.inner.snapshot(from as Uint8Array, to as Uint8Array));
  }

  override async flush(): Promise<void> {
    const started = performance.now();
    await this.inner.flush();
    const ms = performance.now() - started;
    const m = this.m;
    m.flushes++;
    m.flushMsTotal += ms;
    m.lastFlushMs = ms;
    if (ms > m.flushMsMax) m.flushMsMax = ms;
  }

  private counted(
    source: KeyValueIterator<Uint8Array, Uint8Array>,
  ): KeyValueIterator<Uint8Array, Uint8Array> {
    this.m.ranges++;
    return new MappedIterator(source, this.countEntry, this);
  }

  private countEntry(entry: Entry<Uint8Array, Uint8Array>): Entry<Uint8Array, Uint8Array> {
    this.m.rangeEntries++;
    this.m.bytesRead += entry.key.length + entry.value.length;
    return entry;
  }
}
