/**
 * `ThreadedContainer`: a job's tasks spread over N worker threads, with the surface of `Container`
 * (start, run, commit, close, requestStop, metrics, taskViews, storeViews, commitLatency, and the
 * `partitions`, `store-open`, `restore`, `store-close`, `commit` events), so `runJob` and the Kafka
 * coordinator take one or the other (job-container.ts).
 *
 * The split of a container's two roles:
 * - this object, on the main thread, is the **log owner** (log-owner.ts holds the process's one
 *   `Log`) and the supervisor of the threads. Before any thread starts it sets the job's topics up
 *   once (job-topics.ts `prepareJobTopics`), so threads never race to create one;
 * - each **task thread** (task-thread.ts) runs a plain `Container` over its partitions — the
 *   partitions are dealt round-robin (thread i gets the i-th, (i+N)-th, … of the task list) — on a
 *   `ThreadLog` that forwards every log call to the owner.
 *
 * Commits: each thread commits its own tasks (stores' changelogs, outputs, checkpoints), with
 * `exactlyOnce` in one transaction per thread per commit (or per task with `transactionalId`, as on
 * Kafka), taking turns on the embedded log. Tasks share nothing, and a task's state, outputs and
 * checkpoint always commit in the same transaction, so every task is at a commit of its own after
 * a crash at any instant — which is what an uninterrupted run passes through too.
 *
 * Failures: a task failure under `onError: 'fail'` (a thread's run rejects) or a thread that dies
 * (`error` or `exit` of its worker: a `ThreadFailedError` naming the thread and its partitions)
 * makes the owner refuse every later write and commit, stops the other threads (their final
 * commit is refused), and `run` rejects with the first failure. `close({ commit: false })` then
 * closes every live thread's tasks and stores without committing, and ends every worker.
 */
import { EventEmitter } from 'node:events';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { Log } from '../../log/types.js';
import type { StoreLatency, StoreMetrics } from '../../store/metered-store.js';
import { JobError, ThreadFailedError } from '../../util/errors.js';
import { LatencyHistogram } from '../../util/latency-histogram.js';
import { startWorker } from '../../util/worker-entry.js';
import {
  addMetrics,
  type ContainerMetrics,
  type ContainerOptions,
  emptyMetrics,
  type StoreView,
  type TaskView,
} from '../container.js';
import type { JobDefinition } from '../job.js';
import { prepareJobTopics } from '../job-topics.js';
import type { Logger } from '../task.js';
import { LogOwner } from './log-owner.js';
import { proxyStoreOpen, QueryChannel } from './store-proxy.js';
import type { TaskThreadData, ThreadSnapshot, ToMain, ToThread } from './task-thread.js';
import { deserializeError } from './thread-protocol.js';
import { TransferSlots } from './transfer-slots.js';

export interface ThreadedContainerOptions extends Omit<ContainerOptions, 'thread'> {
  /** Threads to spread the tasks over (at most one per task: extra threads are not started). */
  threads: number;
  /** The job's module (a path or file URL): each thread loads the job from it. */
  jobModule: string;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface TaskThread {
  readonly index: number;
  readonly partitions: number[];
  readonly worker: Worker;
  readonly logPort: MessagePort;
  readonly queries: QueryChannel;
  readonly pending: Map<number, Pending>;
  snapshot: ThreadSnapshot | undefined;
  /** Set once the worker is gone (exited or died). */
  gone: boolean;
  /** Resolves when the worker has exited. */
  readonly exited: Promise<void>;
  /** Resolves once the thread has loaded its job module. */
  readonly loaded: Promise<void>;
}

/**
 * The most transfer slots a thread lends (of `SLOT_BYTES` each: 64 MiB of shared memory, touched
 * only as far as calls in flight use it, the most recently freed slot being taken first).
 */
const MAX_SLOTS = 64;

const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export class ThreadedContainer extends EventEmitter {
  readonly job: JobDefinition;
  /** Every commit's duration (of any thread), in seconds. */
  readonly commitLatency = new LatencyHistogram();
  private readonly owner: LogOwner;
  private readonly logger: Logger;
  private threads: TaskThread[] = [];
  private starting: Promise<void> | undefined;
  private failure: Error | undefined;
  private stopped = false;
  private closed = false;
  private nextCall = 1;
  private onFailure: ((err: Error) => void) | undefined;

  constructor(
    job: JobDefinition,
    private readonly options: ThreadedContainerOptions,
  ) {
    super();
    this.job = job;
    this.logger = options.logger ?? silentLogger;
    if (!Number.isInteger(options.threads) || options.threads < 1) {
      throw new JobError(`threads must be a positive integer, got ${options.threads}`);
    }
    if (job.exactlyOnce && !options.log.supports.transactions) {
      throw new JobError(
        `job "${job.name}" is exactlyOnce, but the ${options.log.backend} log has no transactions`,
      );
    }
    this.owner = new LogOwner(options.log);
  }

  /** The log the threads use (with transactions taking turns); outside writers should share it. */
  get log(): Log {
    return this.owner.log;
  }

  /** Sets the topics up, starts the threads, and starts (restores and initialises) their tasks. */
  start(): Promise<void> {
    this.starting ??= this.startThreads();
    return this.starting;
  }

  private async startThreads(): Promise<void> {
    const { taskCount } = await prepareJobTopics(this.job, this.owner.log);
    this.emit('partitions', taskCount);
    const mine = this.options.partitions ?? Array.from({ length: taskCount }, (_, p) => p);
    const n = Math.min(this.options.threads, mine.length);
    const groups: number[][] = Array.from({ length: n }, () => []);
    for (let i = 0; i < mine.length; i++) groups[i % n].push(mine[i]);
    const inFlight = await this.callsInFlightPerTask();
    this.threads = groups.map((partitions, index) => this.spawn(index, partitions, inFlight));
    await this.untilFailure(Promise.all(this.threads.map((t) => t.loaded)));
    await this.untilFailure(Promise.all(this.threads.map((t) => this.call(t, { op: 'start' }))));
    this.logger.info(`started ${mine.length} tasks on ${n} threads`, { job: this.job.name });
  }

  /**
   * The log calls one task can have in flight at once: a read per input, and in one flush an append
   * per output partition and per changelogged store. A thread lends slots for all of its tasks'
   * (see `spawn`): a call that finds every slot lent transfers a buffer, whose memory the owner's
   * isolate then has to collect.
   */
  private async callsInFlightPerTask(): Promise<number> {
    const log = this.owner.log;
    let outputPartitions = 0;
    for (const o of this.job.outputs)
      outputPartitions += (await log.describeTopic(o.topic)).partitions.length;
    const changelogs = Object.values(this.job.stores).filter((s) => s.changelog).length;
    return this.job.inputs.length + outputPartitions + changelogs;
  }

  private spawn(index: number, partitions: number[], callsPerTask: number): TaskThread {
    const log = new MessageChannel();
    const queries = new MessageChannel();
    const querySignal = new SharedArrayBuffer(4);
    const ids = this.options.transactionalId;
    const jobModule = this.options.jobModule.startsWith('file:')
      ? fileURLToPath(this.options.jobModule)
      : this.options.jobModule;
    const encodedBatches =
      this.owner.log.appendBuffer !== undefined && this.owner.log.readBatches !== undefined;
    // a slot for every call the thread's tasks can have in flight at once, and two to spare
    const slots = encodedBatches
      ? TransferSlots.allocate(Math.min(partitions.length * callsPerTask + 2, MAX_SLOTS))
      : undefined;
    const data: TaskThreadData = {
      jobModule,
      thread: index,
      partitions,
      dataDir: this.options.dataDir,
      batchSize: this.options.batchSize,
      fetchSize: this.options.fetchSize,
      maxBufferedOutputs: this.options.maxBufferedOutputs,
      transactionalIds:
        ids === undefined ? undefined : Object.fromEntries(partitions.map((p) => [p, ids(p)])),
      backend: this.owner.log.backend,
      supports: { ...this.owner.log.supports },
      encodedBatches,
      slots: slots?.shared,
      holdsCompaction: this.owner.log.holdCompaction !== undefined,
      logPort: log.port2,
      queryPort: queries.port2,
      querySignal,
    };
    const worker = startWorker(import.meta.url, 'task-thread', {
      workerData: data,
      transferList: [log.port2, queries.port2],
    });
    const label = `thread ${index} (partitions ${partitions.join(',')})`;
    this.owner.attach(log.port1, label, slots);
    let loaded!: () => void;
    let exited!: () => void;
    const t: TaskThread = {
      index,
      partitions,
      worker,
      logPort: log.port1,
      queries: new QueryChannel(queries.port1, querySignal, label),
      pending: new Map(),
      snapshot: undefined,
      gone: false,
      exited: new Promise<void>((resolve) => {
        exited = resolve;
      }),
      loaded: new Promise<void>((resolve) => {
        loaded = resolve;
      }),
    };
    worker.on('message', (m: ToMain) => this.onMessage(t, m, loaded));
    worker.on('error', (err) => {
      this.threadDied(
        t,
        new ThreadFailedError(`${label} of job "${this.job.name}" died: ${err.message}`, { cause: err }),
      );
    });
    worker.on('exit', (code) => {
      this.threadDied(
        t,
        new ThreadFailedError(`${label} of job "${this.job.name}" exited (code ${code}) while running`),
      );
      exited();
    });
    return t;
  }

  private onMessage(t: TaskThread, m: ToMain, loaded: () => void): void {
    switch (m.type) {
      case 'reply': {
        if (m.snapshot) t.snapshot = m.snapshot;
        const p = t.pending.get(m.id);
        if (p === undefined) return;
        t.pending.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(deserializeError(m.error));
        return;
      }
      case 'snapshot':
        t.snapshot = m.snapshot;
        return;
      case 'log':
        this.logger[m.level](m.message, { ...m.fields, thread: t.index });
        return;
      case 'event':
        this.onEvent(t, m.name, m.payload, loaded);
        return;
    }
  }

  private onEvent(t: TaskThread, name: string, payload: unknown, loaded: () => void): void {
    switch (name) {
      case 'loaded':
        loaded();
        return;
      case 'store-open':
        this.emit(
          'store-open',
          proxyStoreOpen(
            t.queries,
            payload as { name: string; partition: number; restoring: boolean; sink: boolean },
          ),
        );
        return;
      case 'commit':
        this.commitLatency.observe((payload as { ms: number }).ms / 1000);
        this.emit('commit', payload);
        return;
      default:
        this.emit(name, payload);
    }
  }

  /** A worker exited or failed: unless it was asked to, the job fails (nothing committed after it). */
  private threadDied(t: TaskThread, err: ThreadFailedError): void {
    if (t.gone) return;
    t.gone = true;
    t.queries.close();
    void this.owner.detach(t.logPort).finally(() => t.logPort.close());
    const pending = [...t.pending.values()];
    t.pending.clear();
    if (this.closed) {
      for (const p of pending) p.reject(err);
      return;
    }
    this.logger.error(err.message, { job: this.job.name, thread: t.index });
    this.fail(err);
    for (const p of pending) p.reject(err);
  }

  /** The first failure: the owner refuses every later commit, the other threads stop. */
  private fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.owner.fail(err);
    this.onFailure?.(err);
    for (const t of this.threads) if (!t.gone) t.worker.postMessage({ type: 'stop' } satisfies ToThread);
  }

  /** `promise`, or the job's failure as soon as there is one. */
  private untilFailure<T>(promise: Promise<T>): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const previous = this.onFailure;
      this.onFailure = (err) => {
        previous?.(err);
        reject(err);
      };
      promise.then(resolve, (err) => reject(this.failure ?? err));
    });
  }

  private call(
    t: TaskThread,
    m: { op: 'start' | 'commit' } | { op: 'run'; untilCaughtUp?: boolean } | { op: 'close'; commit: boolean },
  ): Promise<unknown> {
    if (t.gone) return Promise.reject(this.failure ?? new ThreadFailedError(`thread ${t.index} is gone`));
    const id = this.nextCall++;
    return new Promise((resolve, reject) => {
      t.pending.set(id, { resolve, reject });
      t.worker.postMessage({ type: 'call', id, ...m } as ToThread);
    });
  }

  /**
   * Runs every thread until `stop()`, a signal, `coord.shutdown()` in every task, a failure, or —
   * with `untilCaughtUp` — until each has read its inputs to their ends. Each thread commits before
   * it returns (not after a failure: the owner refuses it).
   */
  async run(options: { untilCaughtUp?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.start();
    const onAbort = () => this.requestStop();
    options.signal?.addEventListener('abort', onAbort);
    try {
      if (options.signal?.aborted || this.stopped) this.requestStop();
      const runs = this.threads.map((t) =>
        this.call(t, { op: 'run', untilCaughtUp: options.untilCaughtUp }).catch((err: unknown) => {
          this.fail(err instanceof Error ? err : new Error(String(err)));
          throw err;
        }),
      );
      const results = await Promise.allSettled(runs);
      if (this.failure !== undefined) throw this.failure;
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Asks every thread's run loop to commit and return. */
  requestStop(): void {
    this.stopped = true;
    for (const t of this.threads) if (!t.gone) t.worker.postMessage({ type: 'stop' } satisfies ToThread);
  }

  /** Commits every thread now (each its own tasks, atomically with `exactlyOnce`). */
  async commit(): Promise<void> {
    await this.untilFailure(Promise.all(this.threads.map((t) => this.call(t, { op: 'commit' }))));
  }

  /**
   * Closes every thread's tasks and stores (committing unless `commit: false`) and ends the
   * workers; a thread that does not answer within 10 s is terminated. Idempotent.
   */
  async close(options: { commit?: boolean } = {}): Promise<void> {
    const commit = (options.commit ?? true) && this.failure === undefined;
    if (this.closed) return;
    this.closed = true;
    this.stopped = true;
    let error: unknown;
    await Promise.all(
      this.threads.map(async (t) => {
        if (!t.gone) {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, 10_000);
          });
          await Promise.race([
            this.call(t, { op: 'close', commit }).catch((err: unknown) => {
              if (commit) error ??= err;
            }),
            timeout,
          ]);
          clearTimeout(timer);
          if (!t.gone) await t.worker.terminate();
        }
        await t.exited;
      }),
    );
    await this.owner.close();
    if (error !== undefined) throw error;
  }

  metrics(): ContainerMetrics {
    const m = emptyMetrics();
    for (const t of this.threads) {
      const s = t.snapshot?.metrics;
      if (s === undefined) continue;
      addMetrics(m, s);
      // the threads commit and restore side by side
      m.commits += s.commits;
      m.lastCommitMs = Math.max(m.lastCommitMs, s.lastCommitMs);
      m.restoreMs = Math.max(m.restoreMs, s.restoreMs);
    }
    return m;
  }

  /** Every task of every thread (as of the thread's last snapshot, at most 250 ms old). */
  taskViews(): TaskView[] {
    const out: TaskView[] = [];
    for (const t of this.threads) if (t.snapshot) out.push(...t.snapshot.tasks);
    return out.sort((a, b) => a.partition - b.partition);
  }

  /** Every store partition of every thread; its counters are the thread's last snapshot. */
  storeViews(): StoreView[] {
    const out: StoreView[] = [];
    for (const t of this.threads) {
      for (const s of t.snapshot?.stores ?? []) {
        const current = () =>
          t.snapshot?.stores.find((x) => x.store === s.store && x.partition === s.partition) ?? s;
        out.push({
          store: s.store,
          partition: s.partition,
          metrics: () => current().metrics as StoreMetrics,
          latency: () => current().latency as StoreLatency,
        });
      }
    }
    return out;
  }

  /**
   * Each task thread's event loop utilization since it started (`worker.performance`): pass an
   * earlier reading of the same thread as `since` for the share of the time between the two.
   */
  threadUtilization(since?: readonly EventLoopUtilization[]): EventLoopUtilization[] {
    return this.threads.map((t, i) => t.worker.performance.eventLoopUtilization(since?.[i]));
  }

  /**
   * Reads and appends whose bytes crossed as transferred buffers though the thread lends transfer
   * slots (`LogOwner.transfers`): 0 while the slots suffice.
   */
  get transfers(): number {
    return this.owner.transfers;
  }

  /** The partitions of the running tasks. */
  get taskPartitions(): number[] {
    return this.threads.flatMap((t) => t.partitions).sort((a, b) => a - b);
  }

  /** The thread index of each partition. */
  threadOf(partition: number): number | undefined {
    return this.threads.find((t) => t.partitions.includes(partition))?.index;
  }
}
