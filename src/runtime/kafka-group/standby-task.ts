/**
 * A standby task (Kafka Streams' standby replica): on a member that does not run task p, keeps a
 * local copy of task p's stores current by tailing their changelogs, so that when p fails over to
 * this member the restore only replays the last few records ("replayed"), not the whole changelog.
 *
 * The stores are opened in the very directories the task's container uses
 * (`<dataDir>/stores/<job>/<store>/<p>`), caught up with `restoreStore` (which also decides whether
 * the local copy can be reused), then tailed: `waitForData` on the changelog (read-committed on
 * Kafka, so only committed records are applied), batches through the store's `restore`. On `stop()`
 * the stores are closed with their marker at the last applied changelog offset, so the container
 * that opens them next sees exactly what they hold. A standby never writes a changelog.
 */
import type { Log } from '../../log/types.js';
import type { QueryableBytes, StoreQueries } from '../control/store-queries.js';
import { changelogTopic, type JobDefinition } from '../job.js';
import { openJobStore } from '../job-store.js';
import { LogChangelogSink } from '../log-changelog-sink.js';
import { type RestorableStore, restoreStore } from '../restore.js';
import type { Logger } from '../task.js';

type StandbyStore = RestorableStore & { close(): Promise<void>; readonly bytes: QueryableBytes };

interface Tail {
  name: string;
  topic: string;
  store: StandbyStore;
  sink: LogChangelogSink;
  /** The next changelog offset to read. */
  next: number;
}

export interface StandbyMetrics {
  /** Records applied since the standby started (its initial catch-up included). */
  applied: number;
}

export class StandbyTask {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private tails: Tail[] = [];
  readonly metrics: StandbyMetrics = { applied: 0 };

  constructor(
    private readonly job: JobDefinition,
    readonly partition: number,
    private readonly log: Log,
    private readonly dataDir: string,
    private readonly logger: Logger,
    /** Interactive queries may read the copies (registered once caught up, removed on stop). */
    private readonly queries?: StoreQueries,
  ) {}

  /** Opens the stores, catches them up, and starts tailing in the background. */
  async start(): Promise<void> {
    const p = this.partition;
    for (const [name, spec] of Object.entries(this.job.stores)) {
      if (!spec.changelog) continue;
      const topic = changelogTopic(this.job.name, name);
      const end = await this.log.endOffset(topic, p);
      const sink = new LogChangelogSink(this.log, topic, p, end, false);
      const store = await openJobStore<StandbyStore>(this.job, this.dataDir, name, p, sink);
      const tail: Tail = { name, topic, store, sink, next: end };
      this.tails.push(tail);
      const result = await restoreStore(store, name, this.log, topic, p, () => {}, { end });
      this.metrics.applied += result.restored;
      tail.next = Math.max(end, (store.changelogPosition()?.offset ?? -1) + 1);
      sink.lastOffset = tail.next - 1;
      this.queries?.addStandby({ name, partition: p, store, sink });
    }
    this.running = Promise.all(this.tails.map((t) => this.follow(t))).then(() => undefined);
  }

  private async follow(t: Tail): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        const more = await this.log.waitForData(t.topic, this.partition, t.next, 5000, signal);
        if (!more || signal.aborted) continue;
        const records = await this.log.read(t.topic, this.partition, t.next, {
          maxRecords: 5000,
          maxBytes: 4 << 20,
        });
        if (signal.aborted) return;
        if (records.length === 0) {
          // only transaction markers or aborted records ahead: skip to the stable end
          const end = await this.log.endOffset(t.topic, this.partition);
          if (end > t.next) {
            t.next = end;
            t.sink.lastOffset = end - 1;
          }
          continue;
        }
        const batch: { key: Uint8Array; value: Uint8Array | null; offset: number }[] = [];
        for (const r of records)
          if (r.key !== null) batch.push({ key: r.key, value: r.value, offset: r.offset });
        t.store.restore(batch);
        this.metrics.applied += batch.length;
        t.next = records[records.length - 1].offset + 1;
        t.sink.lastOffset = t.next - 1;
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn(`standby ${t.name}/${this.partition}: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Stops tailing and closes the stores (marker at the last applied offset). Idempotent. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => undefined);
    const tails = this.tails;
    this.tails = [];
    for (const t of tails) {
      this.queries?.removeStandby(t.name, this.partition);
      await t.store.close().catch(() => undefined);
    }
  }
}
