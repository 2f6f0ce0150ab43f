/**
 * A container runs every task of a job in one process, on one event loop (Samza's
 * `SamzaContainer` + `RunLoop`):
 *
 * - start: checks the topics (inputs must exist; outputs, changelogs and the checkpoint topic are
 *   created with the job's partition count when missing, and refused when they exist with another
 *   count or cleanup policy), reads the checkpoints, opens and restores each task's stores, and calls
 *   `init` of each task;
 * - run: keeps one read in flight per input partition that has nothing buffered, and goes round the
 *   tasks, giving each at most `batchSize` messages before moving on (fair among ready partitions);
 *   with nothing to do it waits for new data, the next commit or the next window — never a busy loop;
 * - outputs: at-least-once, a task's outputs are appended when the loop runs out of input or
 *   `lingerMs` after the oldest of them was sent (low latency; the commit makes them durable before
 *   the checkpoint). Exactly-once, they wait for the commit's transaction.
 * - commit (every `commitMs`, on `coord.commit()`, when the output buffer is full, and at stop):
 *   flush every store (changelog appended, then the engine and its marker), flush the outputs, then
 *   write the checkpoint of every task (input offsets and changelog offsets). The durable half (the
 *   fsync of what was appended, the checkpoint, the transaction's commit) runs while the loop goes
 *   on with the next messages, whose records wait in buffers for the next commit; that one begins
 *   only when the previous one is durable. With `exactlyOnce`
 *   all of that is ONE log transaction: after a crash at any instant, either the whole commit is
 *   there or none of it, and restore rebuilds any store that got ahead of its changelog. With the
 *   `transactionalId` option each task commits alone, in a transaction of its own id (its stores'
 *   changelogs, its outputs, its checkpoint), so a task can move to another process whose writer
 *   fences this one (the Kafka coordinator); the tasks' transactions run concurrently. Each task
 *   has its own output buffer for that reason.
 * - stop: commits, closes the tasks and the stores. After a task failure (`onError: 'fail'`) it does
 *   NOT commit: no state or input offset past the last commit is kept, and the outputs still
 *   buffered are dropped (at-least-once outputs that already lingered out stay: they belong to
 *   messages before the failure, and come again when those are replayed).
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchDecoder } from '../log/embedded/record-batch.js';
import type { KafkaLog } from '../log/kafka/kafka-log.js';
import type { Log, LogRecord, LogTransaction, TransactionOptions } from '../log/types.js';
import type { StoreLatency, StoreMetrics } from '../store/metered-store.js';
import type { KeyValueStore } from '../store/types.js';
import { JobError } from '../util/errors.js';
import { LatencyHistogram } from '../util/latency-histogram.js';
import { type Checkpoint, CheckpointStore, inputKey } from './checkpoint.js';
import { changelogTopic, checkpointTopic, deadLetterTopic, type JobDefinition } from './job.js';
import { jobStateDir } from './job-lock.js';
import { openJobStore } from './job-store.js';
import { prepareJobTopics } from './job-topics.js';
import { waitStable } from './kafka-group/wait-stable.js';
import { LogChangelogSink } from './log-changelog-sink.js';
import { OutputCollector } from './output-collector.js';
import { type RestorableStore, type RestoreProgress, restoreStore, runRestores } from './restore.js';
import type { Logger, TaskCoordinator } from './task.js';
import { type TaskInput, TaskInstance } from './task-instance.js';

/** The Kafka log under `log` (itself, or the log a `SharedLog` wraps), if it is one. */
function kafkaLogOf(log: Log): KafkaLog | undefined {
  const inner = (log as { inner?: Log }).inner ?? log;
  return typeof (inner as Partial<KafkaLog>).highWatermark === 'function' ? (inner as KafkaLog) : undefined;
}

export interface ContainerOptions {
  log: Log;
  /** Where the tasks' stores live: `<dataDir>/stores/<job>/<store>/<partition>`. */
  dataDir: string;
  logger?: Logger;
  /** Messages one task processes before the loop moves to the next (default 256). */
  batchSize?: number;
  /** Messages fetched per read (default 2000). */
  fetchSize?: number;
  /** Output messages buffered before an early commit is forced (default 100,000). */
  maxBufferedOutputs?: number;
  /** Partitions to run; default all of them (the standalone coordinator). */
  partitions?: number[];
  /**
   * Exactly-once: the transactional id of task `partition`'s commits. Given, each task commits in
   * its own transaction of that id (`Log.beginTransaction({ id })`, concurrently: the log must allow
   * one open transaction per id); without it one transaction covers every task.
   */
  transactionalId?: (partition: number) => string;
  /** The task thread this container runs on (threads/task-thread.ts), for its task views; default 0. */
  thread?: number;
}

/** Metrics of a running container, as a plain snapshot. */
export interface ContainerMetrics {
  processed: number;
  skipped: number;
  deadLettered: number;
  sent: number;
  commits: number;
  lastCommitMs: number;
  tasks: number;
  restoredRecords: number;
  restoreMs: number;
  stores: Record<string, Record<string, number>>;
  task: Record<string, number>;
}

/**
 * Adds `x`'s counts into `m` (messages, tasks, restored records; store and task counters merged),
 * for a view over several containers or threads. `commits`, `lastCommitMs` and `restoreMs` are the
 * caller's: summed or the largest depends on whether the parts ran side by side.
 */
export function addMetrics(m: ContainerMetrics, x: ContainerMetrics): void {
  m.processed += x.processed;
  m.skipped += x.skipped;
  m.deadLettered += x.deadLettered;
  m.sent += x.sent;
  m.tasks += x.tasks;
  m.restoredRecords += x.restoredRecords;
  Object.assign(m.stores, x.stores);
  for (const [name, value] of Object.entries(x.task)) m.task[name] = (m.task[name] ?? 0) + value;
}

/** Metrics with every count 0 (`commits` and `lastCommitMs` as given). */
export function emptyMetrics(commits = 0, lastCommitMs = 0): ContainerMetrics {
  return {
    processed: 0,
    skipped: 0,
    deadLettered: 0,
    sent: 0,
    commits,
    lastCommitMs,
    tasks: 0,
    restoredRecords: 0,
    restoreMs: 0,
    stores: {},
    task: {},
  };
}

/**
 * A read's records, taken a slice at a time: decoded as they are taken when the log gives whole
 * batches (`Log.readBatches`: the embedded log, and task threads on it), else the read's array.
 */
interface RecordSource {
  /** True when there is a record to take. */
  hasRecords(max: number): boolean;
  /** The next records, at most `max` (all the rest of an array), none at the end. */
  take(max: number): LogRecord[];
  /** Where the read after this one starts. */
  readonly nextOffset: number;
}

class ArraySource implements RecordSource {
  readonly nextOffset: number;
  constructor(private records: LogRecord[]) {
    this.nextOffset = records.length === 0 ? 0 : records[records.length - 1].offset + 1;
  }
  hasRecords(): boolean {
    return this.records.length > 0;
  }
  take(): LogRecord[] {
    const r = this.records;
    this.records = [];
    return r;
  }
}

interface InputCursor extends TaskInput {
  task: TaskInstance;
  /** The slice of records being processed, from `source`. */
  buffer: LogRecord[];
  index: number;
  /** The rest of the read `buffer` came from. */
  source: RecordSource | undefined;
  /** The read done ahead while `source` is processed. */
  ahead: RecordSource | undefined;
  /** Offset the next read starts at (ahead of nextOffset while a buffer is pending). */
  fetchOffset: number;
  fetching: Promise<void> | undefined;
  /** The last read returned nothing: the input is caught up. */
  atEnd: boolean;
}

type JobStore = KeyValueStore<unknown, unknown> &
  RestorableStore & {
    commit(options?: { durable?: Promise<boolean> }): Promise<number | undefined>;
    metrics(): object;
    latency(): StoreLatency;
    close(): Promise<void>;
  };

/** One store partition of a running container, for monitoring (`Container.storeViews`). */
export interface StoreView {
  readonly store: string;
  readonly partition: number;
  metrics(): StoreMetrics;
  latency(): StoreLatency;
}

/** One task of a running container, for monitoring (`Container.taskViews`). */
export interface TaskView {
  readonly name: string;
  readonly partition: number;
  /** The task thread that runs the task (0 when the job runs on one event loop). */
  readonly thread: number;
  readonly processed: number;
  readonly skipped: number;
  readonly deadLettered: number;
  /** Messages sent to outputs (dead letters included). */
  readonly sent: number;
  /** Each input partition and the next offset to process. */
  readonly inputs: readonly { topic: string; partition: number; nextOffset: number }[];
}

/** Records a store's engine next to its partitions, for `eddy store` to open them. */
function writeStoreInfo(dir: string, engine: string, changelog: boolean): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'store.json'), `${JSON.stringify({ engine, changelog })}\n`);
}

const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export class Container extends EventEmitter {
  readonly job: JobDefinition;
  private readonly log: Log;
  private readonly options: Required<
    Omit<ContainerOptions, 'partitions' | 'logger' | 'transactionalId' | 'thread'>
  > &
    Pick<ContainerOptions, 'partitions' | 'transactionalId'>;
  private readonly thread: number;
  private readonly logger: Logger;
  private tasks: TaskInstance[] = [];
  private cursors: InputCursor[] = [];
  private stores: { task: TaskInstance; name: string; store: JobStore; sink?: LogChangelogSink }[] = [];
  /** Each task's output buffer. */
  private readonly collectors = new Map<TaskInstance, OutputCollector>();
  private newCollector!: () => OutputCollector;
  private checkpoints!: CheckpointStore;
  private commitRequested = false;
  private shutdownRequested = false;
  private stopped = false;
  private started = false;
  private wake: (() => void) | undefined;
  /**
   * Set by `notify()` (a read completed, new data arrived, a stop was asked): the loop rescans
   * before it sleeps, so a notification that came while it was busy (awaiting a commit, a window or
   * an output append) is never lost.
   */
  private notified = false;
  private failure: unknown;
  /** The durable half of the last commit while it runs in the background (see `beginCommit`). */
  private committing: Promise<void> | undefined;
  private readonly counters = { commits: 0, lastCommitMs: 0, restoredRecords: 0, restoreMs: 0 };
  /** Every commit's duration, in seconds. */
  readonly commitLatency = new LatencyHistogram();

  constructor(job: JobDefinition, options: ContainerOptions) {
    super();
    this.job = job;
    this.log = options.log;
    this.logger = options.logger ?? silentLogger;
    this.options = {
      log: options.log,
      dataDir: options.dataDir,
      batchSize: options.batchSize ?? 256,
      fetchSize: options.fetchSize ?? 2000,
      maxBufferedOutputs: options.maxBufferedOutputs ?? 100_000,
      partitions: options.partitions,
      transactionalId: options.transactionalId,
    };
    this.thread = options.thread ?? 0;
    if (job.exactlyOnce && !this.log.supports.transactions) {
      throw new JobError(
        `job "${job.name}" is exactlyOnce, but the ${this.log.backend} log has no transactions`,
      );
    }
  }

  /** Sets up topics, checkpoints, stores (restoring them) and tasks. Emits `restore` progress events. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const job = this.job;
    const log = this.log;
    const { taskCount, outputs } = await prepareJobTopics(job, log);
    this.newCollector = () =>
      new OutputCollector(log, outputs, this.options.maxBufferedOutputs, () => {
        this.commitRequested = true;
      });
    this.emit('partitions', taskCount);
    this.checkpoints = new CheckpointStore(log, checkpointTopic(job.name), job.replicationFactor);
    // Kafka, exactly-once: the last writer's last commit may be decided with its markers not yet
    // written; read-committed reads would then miss its checkpoint and resume from an older one.
    const kafka = kafkaLogOf(log);
    if (job.exactlyOnce && kafka !== undefined) await waitStable(kafka, checkpointTopic(job.name), 0);
    const saved = await this.checkpoints.readAll();

    const coordinator: TaskCoordinator = {
      commit: () => {
        this.commitRequested = true;
      },
      shutdown: () => {
        this.shutdownRequested = true;
      },
    };
    const mine = this.options.partitions ?? Array.from({ length: taskCount }, (_, p) => p);
    const restoreStarted = performance.now();
    // the stores' restores run together (a few at a time) once every task is open
    const restores: (() => Promise<void>)[] = [];
    for (const p of mine) {
      const stores = new Map<string, KeyValueStore<unknown, unknown>>();
      const checkpoint = saved.get(`Partition ${p}`);
      const task = await this.openTask(p, stores, checkpoint, coordinator);
      for (const [name, spec] of Object.entries(job.stores)) {
        const topic = changelogTopic(job.name, name);
        const end = spec.changelog ? await log.endOffset(topic, p) : 0;
        const sink = spec.changelog ? new LogChangelogSink(log, topic, p, end, job.exactlyOnce) : undefined;
        writeStoreInfo(join(jobStateDir(this.options.dataDir, job.name), name), spec.engine, spec.changelog);
        const store = await openJobStore<JobStore>(job, this.options.dataDir, name, p, sink);
        stores.set(name, store);
        this.stores.push({ task, name, store, sink });
        // for interactive queries (store-queries.ts), which answer while the store restores
        this.emit('store-open', { name, partition: p, store, sink, restoring: sink !== undefined });
        if (sink) {
          // restore to what the checkpoint covers (no checkpoint: the inputs start over, so does the state)
          const covered = checkpoint?.changelogs[name] ?? -1;
          // a tail past the checkpoint (at-least-once) must not compact away what it restores to
          await log.holdCompaction?.(topic, p, covered + 1);
          if (covered >= end) {
            this.logger.warn(
              `changelog ${topic}/${p} ends at offset ${end} but the checkpoint covers offset ${covered}: records are missing (was the topic deleted or truncated?); the store is restored from what the changelog holds`,
            );
          }
          restores.push(async () => {
            const result = await restoreStore(
              store,
              name,
              log,
              topic,
              p,
              (progress: RestoreProgress) => this.emit('restore', progress),
              { upTo: covered, end, markerMustBeCommitted: job.exactlyOnce },
            );
            this.counters.restoredRecords += result.restored;
          });
        }
      }
      this.tasks.push(task);
    }
    await runRestores(restores);
    this.counters.restoreMs = performance.now() - restoreStarted;
    for (const task of this.tasks) await task.init();
    this.logger.info(`started ${this.tasks.length} tasks`, { job: job.name });
  }

  private async openTask(
    p: number,
    stores: Map<string, KeyValueStore<unknown, unknown>>,
    checkpoint: Checkpoint | undefined,
    coordinator: TaskCoordinator,
  ): Promise<TaskInstance> {
    const inputs: InputCursor[] = [];
    const collector = this.newCollector();
    const task = new TaskInstance({
      jobName: this.job.name,
      partition: p,
      task: this.job.task(),
      inputs,
      stores,
      collector,
      onError: this.job.onError,
      deadLetterTopic: deadLetterTopic(this.job.name),
      logger: this.logger,
      coordinator,
    });
    this.collectors.set(task, collector);
    for (const input of this.job.inputs) {
      const info = await this.log.describeTopic(input.topic);
      if (p >= info.partitions.length) continue;
      const earliest = info.partitions[p].earliestOffset;
      const end = info.partitions[p].endOffset;
      let next = checkpoint?.inputs[inputKey(input.topic, p)];
      if (next === undefined) next = this.job.startFrom === 'latest' ? end : earliest;
      // retention may have removed the checkpointed offset: resume at the earliest that exists
      if (next < earliest) {
        this.logger.warn(
          `checkpointed offset ${next} of ${input.topic}/${p} is gone; resuming at ${earliest}`,
        );
        next = earliest;
      }
      const cursor: InputCursor = {
        topic: input.topic,
        partition: p,
        key: input.key,
        value: input.value,
        nextOffset: next,
        task,
        buffer: [],
        index: 0,
        source: undefined,
        ahead: undefined,
        fetchOffset: next,
        fetching: undefined,
        atEnd: false,
      };
      inputs.push(cursor);
      this.cursors.push(cursor);
    }
    return task;
  }

  /**
   * Starts a read at `fetchOffset`. Its records become the cursor's buffer when that is used up, or
   * wait as the read-ahead batch, and the next read starts at once: reading overlaps processing.
   */
  private fetch(c: InputCursor): void {
    const options = { maxRecords: this.options.fetchSize };
    const log = this.log;
    const read: Promise<RecordSource> = log.readBatches
      ? log.readBatches(c.topic, c.partition, c.fetchOffset, options).then((b) => new BatchDecoder(b))
      : log.read(c.topic, c.partition, c.fetchOffset, options).then((r) => new ArraySource(r));
    const slice = this.options.batchSize;
    c.fetching = read.then(
      (source) => {
        c.fetching = undefined;
        if (!source.hasRecords(slice)) {
          c.atEnd = true;
          return;
        }
        c.atEnd = false;
        c.fetchOffset = source.nextOffset;
        if (c.index >= c.buffer.length && c.source === undefined) {
          c.source = source;
          c.buffer = source.take(slice);
          c.index = 0;
          this.fetch(c);
        } else {
          c.ahead = source;
        }
        this.notify();
      },
      (err: unknown) => {
        c.fetching = undefined;
        this.failure ??= err;
        this.notify();
      },
    );
  }

  /**
   * Takes the next slice of the read being processed into the buffer, or else moves to the read
   * done ahead (starting the next read); false when there is none.
   */
  private refill(c: InputCursor): boolean {
    const slice = this.options.batchSize;
    if (c.source !== undefined) {
      const more = c.source.take(slice);
      if (more.length > 0) {
        c.buffer = more;
        c.index = 0;
        return true;
      }
      c.source = undefined;
    }
    if (c.ahead === undefined) return false;
    c.source = c.ahead;
    c.ahead = undefined;
    c.buffer = c.source.take(slice);
    c.index = 0;
    if (!c.fetching) this.fetch(c);
    return true;
  }

  /**
   * Runs until `stop()`, `coord.shutdown()`, a failure, or — with `untilCaughtUp` — until every
   * input partition has been read to its end. Commits before returning (not after a failure).
   */
  async run(options: { untilCaughtUp?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.start();
    const { batchSize } = this.options;
    const commitMs = this.job.commitMs;
    const windowMs = this.job.windowMs;
    const lingerMs = this.job.lingerMs;
    let nextCommit = performance.now() + commitMs;
    let nextWindow = windowMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + windowMs;
    const waiters = new Map<InputCursor, Promise<boolean>>();
    const abort = new AbortController();
    // one waitForData per input partition listens on it at once (Node warns past 10 listeners)
    setMaxListeners(Math.max(10, this.cursors.length + 2), abort.signal);
    const onAbort = () => this.requestStop();
    options.signal?.addEventListener('abort', onAbort);
    try {
      while (!this.stopped && !this.shutdownRequested) {
        if (this.failure !== undefined) throw this.failure;
        this.notified = false;
        let worked = false;
        let caughtUp = true;
        for (const c of this.cursors) {
          if (c.index >= c.buffer.length && !this.refill(c)) {
            if (!c.fetching && !waiters.has(c)) {
              if (c.atEnd) {
                // wait for new data without polling; re-read when it arrives
                const w = this.log.waitForData(c.topic, c.partition, c.fetchOffset, commitMs, abort.signal);
                waiters.set(c, w);
                w.then(
                  (more) => {
                    waiters.delete(c);
                    if (more) c.atEnd = false;
                    this.notify();
                  },
                  () => waiters.delete(c),
                );
                if (options.untilCaughtUp) continue;
              } else {
                this.fetch(c);
              }
            }
            if (!c.atEnd) caughtUp = false;
            continue;
          }
          caughtUp = false;
          worked = true;
          const task = c.task;
          const end = Math.min(c.buffer.length, c.index + batchSize);
          while (c.index < end) {
            const record = c.buffer[c.index++];
            const pending = task.process(c, record);
            if (pending) await pending;
            if (this.commitRequested || this.shutdownRequested) break;
          }
          if (c.index >= c.buffer.length) {
            c.buffer = [];
            c.index = 0;
          }
          if (this.commitRequested || this.shutdownRequested) break;
        }
        const now = performance.now();
        if (now >= nextWindow) {
          for (const task of this.tasks) if (task.hasWindow) await task.window();
          nextWindow = now + (windowMs as number);
        }
        // at-least-once: outputs go out when the loop runs dry or after lingerMs, not at the commit
        if (lingerMs !== undefined) this.lingerOutputs(now, !worked, lingerMs);
        if (this.commitRequested || now >= nextCommit) {
          await this.beginCommit();
          nextCommit = performance.now() + commitMs;
        }
        if (options.untilCaughtUp && caughtUp && this.cursors.every((c) => c.atEnd && !c.fetching)) break;
        if (!worked && !this.notified) {
          const pendingFetch = this.cursors.some((c) => c.fetching);
          const until = Math.max(0, Math.min(nextCommit, nextWindow) - performance.now());
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, pendingFetch ? Math.min(until, 50) : until);
            this.wake = done;
            function done() {
              clearTimeout(timer);
              resolve();
            }
            if (pendingFetch)
              Promise.race(this.cursors.map((c) => c.fetching).filter(Boolean)).then(done, done);
          });
          this.wake = undefined;
        } else if (worked) {
          // let reads that completed meanwhile deliver their records (one macrotask per round)
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      await this.commit();
    } finally {
      abort.abort();
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * At-least-once: starts appending the buffered outputs of every task whose oldest output has
   * waited `lingerMs`, or of every task when the loop is `idle`. The appends run in the background
   * (one per task at a time: see `OutputCollector.flushInBackground`), so the loop does not wait for
   * the log's acknowledgement (a Kafka round trip); one that ends wakes the loop, one that fails
   * fails it. The next commit waits for them before it writes the checkpoint that covers their
   * inputs, so a crash can only repeat outputs, never lose them.
   */
  private lingerOutputs(now: number, idle: boolean, lingerMs: number): void {
    for (const c of this.collectors.values()) {
      if (c.pending > 0 && !c.flushing && (idle || c.waitedMs(now) >= lingerMs)) {
        c.flushInBackground(this.onLingered, this.onLingerFailed);
      }
    }
  }

  private readonly onLingered = (): void => this.notify();
  private readonly onLingerFailed = (err: unknown): void => {
    this.failure ??= err;
    this.notify();
  };

  /** Wakes the run loop, or makes its next sleep return at once. */
  private notify(): void {
    this.notified = true;
    this.wake?.();
  }

  /** Asks the run loop to commit and return. */
  requestStop(): void {
    this.stopped = true;
    this.notify();
  }

  /**
   * Commits now: stores, outputs, then checkpoints; atomically with `exactlyOnce` (per task with the
   * `transactionalId` option: a failed task's commit does not undo the others'). Resolves once the
   * commit is durable; a commit still finishing in the background goes first.
   */
  async commit(): Promise<void> {
    await this.beginCommit();
    await this.settleCommit();
  }

  /**
   * Starts a commit and returns once the run loop may go on: everything the commit covers is
   * appended (changelogs, outputs) and its checkpoints are taken; the durable half (fsync, the
   * checkpoint write, the transaction's commit) then runs in the background as `committing`, while
   * the loop processes the next messages into buffers of the next commit. The next commit waits for
   * it first, so commits stay in order and one at a time; a failure of it fails the run loop.
   * Per-task transactions (the Kafka coordinator) commit whole, here.
   */
  private async beginCommit(): Promise<void> {
    await this.settleCommit();
    const started = performance.now();
    this.commitRequested = false;
    const perTask = this.job.exactlyOnce ? this.options.transactionalId : undefined;
    let durable: () => Promise<void>;
    if (perTask) {
      const results = await Promise.allSettled(
        this.tasks.map(async (task) => (await this.commitTasks([task], perTask(task.partition)))()),
      );
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      durable = async () => {};
    } else {
      durable = await this.commitTasks(this.tasks);
    }
    const committing = durable().then(() => {
      this.counters.commits++;
      this.counters.lastCommitMs = performance.now() - started;
      this.commitLatency.observe(this.counters.lastCommitMs / 1000);
      this.emit('commit', { ms: this.counters.lastCommitMs });
    });
    committing.catch((err: unknown) => {
      this.failure ??= err;
      this.notify();
    });
    this.committing = committing;
  }

  /** Waits for the durable half of the last commit (rethrowing its failure). */
  private async settleCommit(): Promise<void> {
    const committing = this.committing;
    if (committing === undefined) return;
    try {
      await committing;
    } finally {
      if (this.committing === committing) this.committing = undefined;
    }
  }

  /**
   * Commits `tasks` (in one transaction of `transactionalId` when exactly-once) up to its durable
   * half, which it returns: stores committed (changelogs appended), outputs appended, checkpoints
   * taken. From its return on, records sent belong to the next commit: the transaction is taken
   * from the sinks before the loop goes on.
   */
  private async commitTasks(
    tasks: readonly TaskInstance[],
    transactionalId?: string,
  ): Promise<() => Promise<void>> {
    const stores =
      tasks.length === this.tasks.length ? this.stores : this.stores.filter((s) => tasks.includes(s.task));
    let txn: LogTransaction | undefined;
    if (this.job.exactlyOnce) {
      const begin = this.log.beginTransaction as (o?: TransactionOptions) => Promise<LogTransaction>;
      txn = await begin.call(this.log, transactionalId === undefined ? undefined : { id: transactionalId });
      for (const s of stores) s.sink?.useTransaction(txn);
    }
    let checkpoints: Checkpoint[];
    // once durable, compaction of each changelog may use what this checkpoint covers, no more
    const holds: { topic: string; partition: number; offset: number }[] = [];
    // settles once this commit is over (true: durable): local copies of the stores taken at this
    // commit point (memory snapshot files) are published only then, never ahead of a checkpoint
    let settle: (durable: boolean) => void = () => {};
    const durable = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    try {
      const changelogOffsets = new Map<TaskInstance, Record<string, number>>();
      for (const s of stores) {
        const offset = await s.store.commit({ durable });
        let offsets = changelogOffsets.get(s.task);
        if (!offsets) changelogOffsets.set(s.task, (offsets = {}));
        offsets[s.name] = offset ?? -1;
        if (s.sink && offset !== undefined) {
          holds.push({
            topic: changelogTopic(this.job.name, s.name),
            partition: s.task.partition,
            offset: offset + 1,
          });
        }
      }
      await Promise.all(tasks.map((task) => this.collectors.get(task)?.flush(txn)));
      checkpoints = tasks.map((task) => {
        const inputs: Record<string, number> = {};
        for (const input of task.inputs) inputs[inputKey(input.topic, input.partition)] = input.nextOffset;
        return {
          task: task.name,
          inputs,
          changelogs: changelogOffsets.get(task) ?? {},
          timestamp: Date.now(),
        };
      });
    } catch (err) {
      settle(false);
      if (txn) await txn.abort().catch(() => undefined);
      throw err;
    } finally {
      if (txn) for (const s of stores) s.sink?.useTransaction(undefined);
    }
    return async () => {
      try {
        if (!txn) await this.log.flush();
        await this.checkpoints.write(checkpoints, txn);
        if (txn) await txn.commit();
        else await this.log.flush();
        settle(true);
        if (this.log.holdCompaction) {
          for (const h of holds) await this.log.holdCompaction(h.topic, h.partition, h.offset);
        }
      } catch (err) {
        settle(false);
        if (txn) await txn.abort().catch(() => undefined);
        throw err;
      }
    };
  }

  /**
   * Closes tasks and stores. `commit: false` (after a failure) leaves the last commit as it was:
   * buffered outputs are dropped and stores are closed without reaching the changelog.
   */
  async close(options: { commit?: boolean } = {}): Promise<void> {
    const commit = options.commit ?? true;
    this.stopped = true;
    // a commit still finishing in the background ends first (its failure was the run's)
    if (this.committing !== undefined) {
      if (commit) await this.settleCommit();
      else await this.settleCommit().catch(() => undefined);
    }
    if (!commit) for (const c of this.collectors.values()) c.discard();
    // a linger append still in flight ends before the stores close (and the caller closes the log)
    for (const c of this.collectors.values()) await c.settled();
    for (const task of this.tasks) {
      try {
        await task.close();
      } catch (err) {
        this.logger.error(`task close failed: ${err}`);
      }
    }
    for (const s of this.stores) {
      this.emit('store-close', { name: s.name, partition: s.task.partition });
      if (!commit) s.sink?.abandon();
      await s.store.close().catch((err) => {
        if (commit) throw err;
      });
    }
    this.tasks = [];
    this.stores = [];
    this.cursors = [];
    this.collectors.clear();
  }

  metrics(): ContainerMetrics {
    const m = emptyMetrics(this.counters.commits, this.counters.lastCommitMs);
    m.tasks = this.tasks.length;
    m.restoredRecords = this.counters.restoredRecords;
    m.restoreMs = this.counters.restoreMs;
    for (const c of this.collectors.values()) m.sent += c.sent;
    for (const t of this.tasks) {
      m.processed += t.counters.processed;
      m.skipped += t.counters.skipped;
      m.deadLettered += t.counters.deadLettered;
      for (const [name, c] of t.userCounters) m.task[name] = (m.task[name] ?? 0) + c.value;
    }
    for (const s of this.stores)
      m.stores[`${s.name}/${s.task.partition}`] = s.store.metrics() as Record<string, number>;
    return m;
  }

  /** Every store partition of the running tasks (their counters are read when asked). */
  storeViews(): StoreView[] {
    return this.stores.map((s) => ({
      store: s.name,
      partition: s.task.partition,
      metrics: () => s.store.metrics() as StoreMetrics,
      latency: () => s.store.latency(),
    }));
  }

  /** A snapshot of each running task: its counters and input positions. */
  taskViews(): TaskView[] {
    return this.tasks.map((t) => ({
      name: t.name,
      partition: t.partition,
      thread: this.thread,
      processed: t.counters.processed,
      skipped: t.counters.skipped,
      deadLettered: t.counters.deadLettered,
      sent: this.collectors.get(t)?.sent ?? 0,
      inputs: t.inputs.map((i) => ({ topic: i.topic, partition: i.partition, nextOffset: i.nextOffset })),
    }));
  }

  /** The stores of a task, for queries and tests. */
  storesOf(partition: number): Map<string, KeyValueStore<unknown, unknown>> | undefined {
    return this.tasks.find((t) => t.partition === partition)?.stores;
  }

  get taskPartitions(): number[] {
    return this.tasks.map((t) => t.partition);
  }
}
