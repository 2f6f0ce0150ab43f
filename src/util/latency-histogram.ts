/**
 * A fixed-bucket latency histogram over plain numbers, cheap enough for a hot path: `observe` is a
 * short loop over the bucket bounds and three additions, with no allocation. The HTTP layer reads
 * it at scrape time (`snapshot`) and renders it as a Prometheus histogram, so the store and runtime
 * layers never depend on a metrics library.
 *
 * Bounds are in seconds, ascending; `counts[i]` counts observations `<= bounds[i]` that fell in
 * none of the lower buckets (the rendering accumulates them), the last slot counts those above every
 * bound (+Inf).
 */

/** From 10 µs to 10 s, about 2.5 buckets per decade: store ops are microseconds, flushes milliseconds. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10,
];

/** What a histogram holds at one instant. */
export interface HistogramSnapshot {
  readonly bounds: readonly number[];
  /** Per bucket (not cumulative); one more than `bounds` (the +Inf bucket). */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

export class LatencyHistogram {
  readonly bounds: readonly number[];
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS_SECONDS) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation, in seconds. */
  observe(seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }

  snapshot(): HistogramSnapshot {
    return { bounds: this.bounds, counts: Array.from(this.counts), sum: this.sum, count: this.count };
  }
}
