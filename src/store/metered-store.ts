/**
 * The metrics layer: counts what passes through it, on bytes (it sits right below the serde layer,
 * so byte counts are exact and nothing is encoded twice), and reads the counters of the layers that
 * keep their own (the cache's hits and misses, the TTL layer's expirations).
 *
 * `metrics()` is a plain snapshot object (no registry, no timers): gets, puts, deletes, ranges,
 * range entries, bytes read and written, flushes and their latency, restore records/bytes/time,
 * plus whatever the counter sources add. Deletes count their key bytes as written.
 *
 * Inserts and updates (a put over a key that exists) are counted exactly: by the cache layer when
 * there is one (its entry, or the read just before the put, says whether the key existed; a blind
 * write to an uncached key costs one lookup below the cache), else here, with one lookup in the
 * layer below per put (`probe`).
 *
 * Latency: flushes are all timed; gets and puts are timed one in `LATENCY_SAMPLE` (64), so the hot
 * path pays a counter test, not two clock reads (`latency()`).
 *
 * Corner cases: `getAll`, `putAll` and `deleteAll` count per key; an iterator's entries are counted
 * as they are read (`rangeEntries`, `bytesRead`); a failed flush is not counted.
 */
import { latin1Id } from '../util/bytes.js';
import { type HistogramSnapshot, LatencyHistogram } from '../util/latency-histogram.js';
import { MappedIterator } from './store-iterator.js';
import type { Entry, KeyValueIterator, WriteOp } from './types.js';
import { type Bound, type BytesLayer, WrappedStore } from './wrapped-store.js';

export interface StoreMetrics {
  gets: number;
  puts: number;
  /** Puts of a key that did not exist. */
  inserts: number;
  /** Puts over a key that existed. */
  updates: number;
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

/** One get or put in this many is timed. A power of two (the test is a mask). */
export const LATENCY_SAMPLE = 64;
const SAMPLE_MASK = LATENCY_SAMPLE - 1;

/** Latency histograms of a store, in seconds: sampled gets and puts, every flush. */
export interface StoreLatency {
  get: HistogramSnapshot;
  put: HistogramSnapshot;
  flush: HistogramSnapshot;
}

/** Whether a key exists in the layer below (the metered layer's insert/update test without a cache). */
export type ExistenceProbe = (key: Uint8Array) => boolean;

export class MeteredStore extends WrappedStore {
  private readonly m: StoreMetrics = {
    gets: 0,
    puts: 0,
    inserts: 0,
    updates: 0,
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

  private readonly getLatency = new LatencyHistogram();
  private readonly putLatency = new LatencyHistogram();
  private readonly flushLatency = new LatencyHistogram();

  /**
   * `sources` add other layers' counters to `metrics()` (a source's `inserts`/`updates` replace
   * this layer's). When no layer below counts inserts and updates, `probe` tells whether a key
   * exists before its op (a lookup: a second hash probe or B+tree descent per put); a single put
   * asks `keyCount` instead when given (the engine's key count, O(1)), before and after it.
   */
  constructor(
    inner: BytesLayer,
    private readonly sources: readonly CounterSource[] = [],
    private readonly probe?: ExistenceProbe,
    private readonly keyCount?: () => number,
  ) {
    super(inner);
  }

  /** Latency histograms: gets and puts sampled one in LATENCY_SAMPLE, every flush. */
  latency(): StoreLatency {
    return {
      get: this.getLatency.snapshot(),
      put: this.putLatency.snapshot(),
      flush: this.flushLatency.snapshot(),
    };
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
    const m = this.m;
    if ((++m.gets & SAMPLE_MASK) !== 0) {
      const value = this.inner.get(key);
      if (value !== undefined) m.bytesRead += key.length + value.length;
      return value;
    }
    const started = performance.now();
    const value = this.inner.get(key);
    this.getLatency.observe((performance.now() - started) / 1000);
    if (value !== undefined) m.bytesRead += key.length + value.length;
    return value;
  }

  override put(key: Uint8Array, value: Uint8Array): void {
    const m = this.m;
    const keyCount = this.keyCount;
    const before = keyCount === undefined ? 0 : keyCount();
    if (keyCount === undefined && this.probe !== undefined) {
      if (this.probe(key)) m.updates++;
      else m.inserts++;
    }
    if ((m.puts & SAMPLE_MASK) !== 0) {
      this.inner.put(key, value);
    } else {
      const started = performance.now();
      this.inner.put(key, value);
      this.putLatency.observe((performance.now() - started) / 1000);
    }
    if (keyCount !== undefined) {
      if (keyCount() > before) m.inserts++;
      else m.updates++;
    }
    m.puts++;
    m.bytesWritten += key.length + value.length;
  }

  override delete(key: Uint8Array): void {
    this.inner.delete(key);
    this.m.deletes++;
    this.m.bytesWritten += key.length;
  }

  override write(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    const m = this.m;
    const probe = this.probe;
    if (probe !== undefined) {
      // whether each key exists before its op (a key written twice in one batch: the earlier op decides)
      const exists = new Map<string, boolean>();
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        const id = latin1Id(op.key);
        const before = exists.get(id) ?? probe(op.key);
        exists.set(id, op.value !== null);
        if (op.value === null) continue;
        if (before) m.updates++;
        else m.inserts++;
      }
    }
    this.inner.write(ops);
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
    this.flushLatency.observe(ms / 1000);
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
