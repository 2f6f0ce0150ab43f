/**
 * A standby task (Kafka Streams' standby replica): on a member that does not run task p, keeps a
 * local copy of task p's stores current by tailing their changelogs, so that when p fails over to
 * this member the restore only replays the last few records ("replayed"), not the whole changelog.
 *
 * The stores are opened in the very directories the task's container uses
 * (`<dataDir>/stores/<job>/<store>/<p>`); the local copy is kept when its marker is clean and within
 * the changelog (else it starts empty), then caught up and tailed in reads of 5000 records:
 * `waitForData` on the changelog (read-committed on Kafka, so only committed records are applied),
 * batches through the store's `restore`. The catch-up runs in the background in those small reads,
 * so a standby that starts on a busy worker (the survivors of a failover get new standbys) never
 * holds the event loop that the worker's own tasks run on for long. On `stop()`
 * the stores are closed with their marker at the last applied changelog offset, so the container
 * that opens them next sees exactly what they hold. A standby never writes a changelog.
 *
 * While tailing, a standby applies a changelog record only once a checkpoint of its task covers it
 * (it follows the job's checkpoint partition too); the records after the latest checkpoint wait in
 * memory (`held`, about one commit interval of changes). An at-least-once owner appends its
 * changelog records before the checkpoint that covers them, so when it dies between the two, the
 * records after its last checkpoint are not the checkpointed state: a copy that applied them would
 * be ahead of the checkpoint, and its new owner would have to rebuild it from the whole changelog
 * (restore.ts). Held back, the copy is at or behind the checkpoint, and the new owner replays only
 * the tail. Past {@link MAX_HELD} waiting records (no checkpoint for a long time) the oldest are
 * applied anyway.
 */
import type { Log } from '../../log/types.js';
import { CheckpointStore, decodeCheckpoint } from '../checkpoint.js';
import type { QueryableBytes, StoreQueries } from '../control/store-queries.js';
import { changelogTopic, checkpointTopic, type JobDefinition } from '../job.js';
import { openJobStore } from '../job-store.js';
import { LogChangelogSink } from '../log-changelog-sink.js';
import type { RestorableStore } from '../restore.js';
import type { Logger } from '../task.js';

type StandbyStore = RestorableStore & { close(): Promise<void>; readonly bytes: QueryableBytes };

interface Tail {
  name: string;
  topic: string;
  store: StandbyStore;
  sink: LogChangelogSink;
  /** The next changelog offset to read. */
  next: number;
  /** Records read, not applied yet: no checkpoint covers them so far. */
  held: { key: Uint8Array; value: Uint8Array | null; offset: number }[];
}

export interface StandbyMetrics {
  /** Records applied since the standby started (its initial catch-up included). */
  applied: number;
  /** Records read and held back until a checkpoint covers them. */
  held: number;
}

/** Records a standby holds back at most, per store (then it applies the oldest without a checkpoint). */
export const MAX_HELD = 200_000;

export class StandbyTask {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private tails: Tail[] = [];
  readonly metrics: StandbyMetrics = { applied: 0, held: 0 };
  /** Store name → the last changelog offset the task's latest checkpoint seen here covers. */
  private readonly covered = new Map<string, number>();

  constructor(
    private readonly job: JobDefinition,
    readonly partition: number,
    private readonly log: Log,
    private readonly dataDir: string,
    private readonly logger: Logger,
    /** Interactive queries may read the copies (registered once caught up, removed on stop). */
    private readonly queries?: StoreQueries,
  ) {}

  /** Opens the stores and starts tailing (catching up first) in the background. */
  async start(): Promise<void> {
    const p = this.partition;
    const checkpoints = checkpointTopic(this.job.name);
    // the checkpoint partition is followed from here; what the task's latest checkpoint covers now
    const checkpointsFrom = await this.log.endOffset(checkpoints, 0);
    const current = (await new CheckpointStore(this.log, checkpoints).readAll()).get(`Partition ${p}`);
    for (const [name, offset] of Object.entries(current?.changelogs ?? {})) this.covered.set(name, offset);
    for (const [name, spec] of Object.entries(this.job.stores)) {
      if (!spec.changelog) continue;
      const topic = changelogTopic(this.job.name, name);
      const end = await this.log.endOffset(topic, p);
      const earliest = await this.log.earliestOffset(topic, p);
      const sink = new LogChangelogSink(this.log, topic, p, end, false);
      const store = await openJobStore<StandbyStore>(this.job, this.dataDir, name, p, sink);
      // the local copy is used when its marker is clean and within the changelog (restore.ts), else
      // it starts empty; either way the tail below catches it up in reads of 5000 records, so a
      // standby that starts never holds the event loop for long (the worker's own tasks run on it)
      const marker = store.changelogPosition();
      let next = earliest;
      if (marker?.clean && marker.offset >= earliest - 1 && marker.offset <= end - 1)
        next = marker.offset + 1;
      else await store.wipe();
      sink.lastOffset = next - 1;
      this.tails.push({ name, topic, store, sink, next, held: [] });
      this.queries?.addStandby({ name, partition: p, store, sink });
    }
    this.running = Promise.all([
      ...this.tails.map((t) => this.follow(t)),
      this.followCheckpoints(checkpoints, checkpointsFrom),
    ]).then(() => undefined);
  }

  /** Applies a tail's held records that a checkpoint covers (and the oldest past {@link MAX_HELD}). */
  private apply(t: Tail): void {
    const covered = this.covered.get(t.name) ?? -1;
    let n = 0;
    while (n < t.held.length && (t.held[n].offset <= covered || t.held.length - n > MAX_HELD)) n++;
    if (n === 0) return;
    const batch = t.held.splice(0, n);
    t.store.restore(batch);
    this.metrics.applied += batch.length;
    this.metrics.held -= batch.length;
    t.sink.lastOffset = batch[batch.length - 1].offset;
  }

  /** Follows the job's checkpoint partition for this task's checkpoints (what they cover). */
  private async followCheckpoints(topic: string, from: number): Promise<void> {
    const signal = this.abort.signal;
    const task = Buffer.from(`Partition ${this.partition}`);
    let next = from;
    while (!signal.aborted) {
      try {
        const more = await this.log.waitForData(topic, 0, next, 5000, signal);
        if (!more || signal.aborted) continue;
        const records = await this.log.read(topic, 0, next, { maxRecords: 5000 });
        if (signal.aborted) return;
        if (records.length === 0) {
          next = Math.max(next, await this.log.endOffset(topic, 0));
          continue;
        }
        let seen = false;
        for (const r of records) {
          if (r.key === null || r.value === null || !task.equals(r.key)) continue;
          const cp = decodeCheckpoint(Buffer.from(r.value), `${topic}/0@${r.offset}`);
          for (const [name, offset] of Object.entries(cp.changelogs)) this.covered.set(name, offset);
          seen = true;
        }
        next = records[records.length - 1].offset + 1;
        if (seen) for (const t of this.tails) this.apply(t);
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn(`standby ${this.partition}, checkpoints: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
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
          if (end > t.next) t.next = end;
          continue;
        }
        for (const r of records) {
          if (r.key === null) continue;
          t.held.push({ key: r.key, value: r.value, offset: r.offset });
          this.metrics.held++;
        }
        t.next = records[records.length - 1].offset + 1;
        this.apply(t);
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
