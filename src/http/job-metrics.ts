/**
 * `GET /metrics`: the job's counters in the Prometheus text format, through a `prom-client`
 * registry. Nothing here runs on the job's hot path: the store and runtime layers keep plain
 * counters and fixed-bucket histograms (`LatencyHistogram`), and each metric below reads them when
 * Prometheus scrapes (one snapshot per scrape, shared by every metric). prom-client's default
 * metrics add the process's (CPU, memory, heap, event loop lag, GC, file descriptors).
 *
 * Names follow Prometheus conventions: `eddy_` prefix, `_total` counters, `_bytes`, `_seconds`
 * histograms; labels `job`, `store`, `partition` (store metrics) and `job`, `task`, `partition`,
 * `thread` (task metrics: the task thread running the task, 0 on one event loop; lag adds the input
 * `topic`).
 */
import { getHeapStatistics } from 'node:v8';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { StoreView, TaskView } from '../runtime/container.js';
import type { StoreLatency, StoreMetrics } from '../store/metered-store.js';
import type { HistogramSnapshot } from '../util/latency-histogram.js';
import type { JobMonitor, PartitionLag, RestoreState } from './job-monitor.js';

type Labels = Record<string, string>;
interface Value {
  labels: Labels;
  value: number;
  metricName?: string;
}
type MetricType = 'counter' | 'gauge' | 'histogram';

/** What one scrape reads, once. */
interface Scrape {
  stores: { labels: Labels; metrics: StoreMetrics; latency: StoreLatency }[];
  tasks: { labels: Labels; view: TaskView }[];
  commits: number;
  commitLatency: HistogramSnapshot | undefined;
  restores: { labels: Labels; state: RestoreState }[];
  lag: PartitionLag[];
}

/** Store counters: metric name, help, and the StoreMetrics field it reads. */
const STORE_COUNTERS: readonly [string, string, string][] = [
  ['eddy_store_reads_total', 'Gets (getAll counts per key).', 'gets'],
  ['eddy_store_inserts_total', 'Puts of a key that did not exist.', 'inserts'],
  ['eddy_store_updates_total', 'Puts over a key that existed (counted exactly).', 'updates'],
  ['eddy_store_deletes_total', 'Deletes (deleteAll counts per key).', 'deletes'],
  ['eddy_store_range_scans_total', 'Iterators opened: range, prefix, all, snapshot.', 'ranges'],
  ['eddy_store_range_entries_total', 'Entries read through iterators.', 'rangeEntries'],
  ['eddy_store_read_bytes_total', 'Key and value bytes read.', 'bytesRead'],
  ['eddy_store_written_bytes_total', 'Key and value bytes written (a delete: its key).', 'bytesWritten'],
  ['eddy_store_cache_hits_total', 'Reads the cache answered.', 'cacheHits'],
  ['eddy_store_cache_misses_total', 'Reads the cache sent to the engine.', 'cacheMisses'],
  ['eddy_store_flushes_total', 'Flushes (each commit flushes every store).', 'flushes'],
  ['eddy_store_restore_records_total', 'Changelog records applied by restore.', 'restoreRecords'],
  ['eddy_store_restore_bytes_total', 'Changelog bytes applied by restore.', 'restoreBytes'],
];

const TASK_COUNTERS: readonly [string, string, (v: TaskView) => number][] = [
  ['eddy_task_processed_total', 'Messages processed.', (v) => v.processed],
  ['eddy_task_sent_total', 'Messages sent to output topics (dead letters included).', (v) => v.sent],
  ['eddy_task_skipped_total', "Messages skipped by onError 'skip'.", (v) => v.skipped],
  [
    'eddy_task_dead_lettered_total',
    "Messages sent to the dead-letter topic by onError 'dead-letter'.",
    (v) => v.deadLettered,
  ],
];

const RESTORE_STATES = ['restoring', 'reused', 'replayed', 'rebuilt'] as const;

/** The metric object prom-client's registry renders (`get` is called once per scrape). */
function metric(
  name: string,
  help: string,
  type: MetricType,
  values: (s: Scrape) => Value[],
  current: () => Scrape,
) {
  return {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: async () => ({ name, help, type, aggregator: 'sum' as const, values: values(current()) }),
    reset() {},
  };
}

/** One label set's histogram as Prometheus series (cumulative buckets, +Inf, sum, count). */
function histogramValues(name: string, labels: Labels, h: HistogramSnapshot, out: Value[]): void {
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i];
    out.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: String(h.bounds[i]) },
      value: cumulative,
    });
  }
  cumulative += h.counts[h.bounds.length];
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
}

/** prom-client's default heap metrics, replaced below by cheaper ones of the same names. */
const heapSizeAndUsed = [
  'nodejs_heap_size_total_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_external_memory_bytes',
];

export class JobMetrics {
  readonly registry = new Registry();
  private current: Scrape | undefined;

  constructor(private readonly monitor: JobMonitor) {
    const r = this.registry;
    // the event loop delay sampled every 100 ms (prom-client's default, 10 ms, wakes the loop 100 times a second)
    collectDefaultMetrics({ register: r, prefix: '', eventLoopMonitoringPrecision: 100 });
    // gauges named _total, which promtool (rightly) rejects; nodejs_active_{handles,requests,resources} stay
    for (const bad of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ])
      r.removeSingleMetric(bad);
    // the heap gauges again, from v8.getHeapStatistics() (~0.01 ms) instead of prom-client's
    // process.memoryUsage() (which also walks /proc for the RSS: 1-8 ms a scrape with a large
    // LMDB mapping, the largest cost of a scrape in a profile of `eddy bench runtime --serve-http`)
    for (const name of heapSizeAndUsed) r.removeSingleMetric(name);
    let heap = getHeapStatistics();
    const heapGauge = (name: string, help: string, value: () => number, first = false) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          if (first) heap = getHeapStatistics();
          this.set(value());
        },
      });
    heapGauge(
      'nodejs_heap_size_total_bytes',
      'Process heap size from Node.js in bytes.',
      () => heap.total_heap_size,
      true,
    );
    heapGauge(
      'nodejs_heap_size_used_bytes',
      'Process heap size used from Node.js in bytes.',
      () => heap.used_heap_size,
    );
    heapGauge(
      'nodejs_external_memory_bytes',
      'Node.js external memory size in bytes.',
      () => heap.external_memory,
    );
    const now = () => this.current as Scrape;
    const job = monitor.job;
    const add = (m: ReturnType<typeof metric>) => r.registerMetric(m as never);
    for (const [name, help, field] of STORE_COUNTERS) {
      add(
        metric(
          name,
          help,
          'counter',
          (s) => s.stores.map((x) => ({ labels: x.labels, value: x.metrics[field] ?? 0 })),
          now,
        ),
      );
    }
    const histograms: [string, string, keyof StoreLatency][] = [
      ['eddy_store_get_duration_seconds', 'Latency of gets, one in 64 timed.', 'get'],
      [
        'eddy_store_put_duration_seconds',
        'Latency of puts (into the write-back cache), one in 64 timed.',
        'put',
      ],
      ['eddy_store_flush_duration_seconds', 'Latency of flushes, every one timed.', 'flush'],
    ];
    for (const [name, help, which] of histograms) {
      add(
        metric(
          name,
          help,
          'histogram',
          (s) => {
            const out: Value[] = [];
            for (const x of s.stores) histogramValues(name, x.labels, x.latency[which], out);
            return out;
          },
          now,
        ),
      );
    }
    add(
      metric(
        'eddy_store_restore_remaining_records',
        'Changelog records restore still has to read (an upper bound: compaction leaves gaps).',
        'gauge',
        (s) => s.restores.map((x) => ({ labels: x.labels, value: x.state.remaining })),
        now,
      ),
    );
    add(
      metric(
        'eddy_store_restore_state',
        "Restore state of each store partition: 1 for the current one of 'restoring', or how it finished: 'reused' (local state current), 'replayed' (changelog tail), 'rebuilt'.",
        'gauge',
        (s) => {
          const out: Value[] = [];
          for (const x of s.restores) {
            const current = x.state.done ? x.state.mode : 'restoring';
            for (const state of RESTORE_STATES)
              out.push({ labels: { ...x.labels, state }, value: state === current ? 1 : 0 });
          }
          return out;
        },
        now,
      ),
    );
    for (const [name, help, read] of TASK_COUNTERS) {
      add(
        metric(
          name,
          help,
          'counter',
          (s) => s.tasks.map((x) => ({ labels: x.labels, value: read(x.view) })),
          now,
        ),
      );
    }
    add(
      metric(
        'eddy_task_commits_total',
        'Commits of the task (a container commit covers all its tasks).',
        'counter',
        (s) => s.tasks.map((x) => ({ labels: x.labels, value: s.commits })),
        now,
      ),
    );
    add(
      metric(
        'eddy_job_commit_duration_seconds',
        'Latency of commits: stores, outputs and checkpoints of every task of the process.',
        'histogram',
        (s) => {
          const out: Value[] = [];
          if (s.commitLatency)
            histogramValues('eddy_job_commit_duration_seconds', { job }, s.commitLatency, out);
          return out;
        },
        now,
      ),
    );
    add(
      metric(
        'eddy_task_lag_records',
        'Records of the input partition not processed yet (log end offset minus next offset).',
        'gauge',
        (s) =>
          s.lag.map((l) => ({
            labels: { job, task: l.task, topic: l.topic, partition: String(l.partition) },
            value: l.records,
          })),
        now,
      ),
    );
    add(
      metric(
        'eddy_task_lag_seconds',
        'Age of the oldest unprocessed record of the input partition (0 when caught up).',
        'gauge',
        (s) =>
          s.lag.map((l) => ({
            labels: { job, task: l.task, topic: l.topic, partition: String(l.partition) },
            value: l.ageSeconds,
          })),
        now,
      ),
    );
    add(
      metric(
        'eddy_job_ready',
        'Whether every task is restored and running (GET /ready).',
        'gauge',
        () => [{ labels: { job }, value: this.monitor.readiness().ready ? 1 : 0 }],
        now,
      ),
    );
  }

  /** The exposition text of one scrape. */
  async scrape(): Promise<string> {
    const container = this.monitor.container;
    const job = this.monitor.job;
    const storeViews: StoreView[] = container?.storeViews() ?? [];
    const lag = await this.monitor.lag().catch(() => [] as PartitionLag[]);
    this.current = {
      stores: storeViews.map((v) => ({
        labels: { job, store: v.store, partition: String(v.partition) },
        metrics: v.metrics(),
        latency: v.latency(),
      })),
      tasks: this.monitor.tasks().map((view) => ({
        labels: { job, task: view.name, partition: String(view.partition), thread: String(view.thread) },
        view,
      })),
      commits: container?.metrics().commits ?? 0,
      commitLatency: container?.commitLatency.snapshot(),
      restores: this.monitor
        .restoreStates()
        .map((state) => ({ labels: { job, store: state.store, partition: String(state.partition) }, state })),
      lag,
    };
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
