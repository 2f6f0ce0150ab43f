/**
 * Real-time counting: how many events each key had, kept in the `counts` store, and every
 * `windowMs` the task's top counts sent to `top-counts`.
 *
 * Input `clicks`: any JSON value, keyed by what is counted (a page, a product, a user). Each event
 * adds one to its key's count. Every window (10 s), a task that counted something since its last
 * window sends `{ partition, top: [{ key, count }, …] }` (the 5 highest counts of its partition,
 * ties by key) to `top-counts`, keyed `partition-<p>`; a consumer merges the partitions' tops for a global
 * top (each key lives in exactly one partition, so the merge is exact).
 *
 * An event without a key throws, and the job's `onError: 'skip'` counts and logs it.
 *
 * The window scans the task's whole store: fine for thousands of keys per partition. For millions,
 * keep a bounded heap of candidates in `process` instead.
 */
// The package's public entry (`eddy` once installed): the only place the example imports Eddy.
import {
  defineJob,
  type IncomingEnvelope,
  type KeyValueStore,
  type MessageCollector,
  type StreamTask,
  serdes,
  type TaskContext,
} from '../../src/index.js';

/** How many keys a window reports. */
export const TOP_N = 5;

export interface KeyCount {
  key: string;
  count: number;
}

/** What a window sends to `top-counts`. */
export interface TopCounts {
  partition: number;
  top: KeyCount[];
}

/** Orders by count (highest first), then key; keeps the first `n`. */
export function topCounts(entries: Iterable<KeyCount>, n: number): KeyCount[] {
  const top: KeyCount[] = [];
  for (const e of entries) {
    top.push({ key: e.key, count: e.count });
    if (top.length > n * 4) trim(top, n);
  }
  trim(top, n);
  return top;
}

function trim(list: KeyCount[], n: number): void {
  list.sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  list.length = Math.min(list.length, n);
}

function* mapEntries(entries: Iterable<{ key: string; value: number }>): Generator<KeyCount> {
  for (const { key, value } of entries) yield { key, count: value };
}

export class CounterTask implements StreamTask {
  private counts!: KeyValueStore<string, number>;
  private partition = 0;
  private changed = false;
  private counted!: { inc(by?: number): void };

  init(ctx: TaskContext): void {
    this.counts = ctx.store<string, number>('counts');
    this.partition = ctx.partition;
    this.counted = ctx.metrics.counter('counted');
  }

  process(envelope: IncomingEnvelope): void {
    const key = envelope.key;
    if (typeof key !== 'string' || key.length === 0) throw new Error('an event needs a key to be counted');
    this.counts.put(key, (this.counts.get(key) ?? 0) + 1);
    this.changed = true;
    this.counted.inc();
  }

  window(out: MessageCollector): void {
    if (!this.changed) return;
    this.changed = false;
    const all = this.counts.all();
    let top: KeyCount[];
    try {
      top = topCounts(mapEntries(all), TOP_N);
    } finally {
      all.close();
    }
    const value: TopCounts = { partition: this.partition, top };
    // Keyed by partition, routed by the key: works whatever partition count `top-counts` has.
    out.send({ topic: 'top-counts', key: `partition-${this.partition}`, value });
  }
}

export default defineJob({
  name: 'counter',
  inputs: ['clicks'],
  outputs: ['top-counts'],
  stores: { counts: { key: serdes.string, value: serdes.json<number>() } },
  task: () => new CounterTask(),
  windowMs: 10_000,
  onError: 'skip',
});
