/**
 * One task of the test driver: the user's `StreamTask` for partition p, its context and stores,
 * and the container's per-message path (`TaskInstance.process`, kept in step with it): decode with
 * the input's serdes, `process`, and the job's error policy (`fail` throws `TaskFailedError`,
 * `skip` counts and logs, `dead-letter` appends the raw record with `eddy.*` headers).
 *
 * Work runs at once when the task is idle; a `process` or `window` that returns a promise makes
 * later work of this task wait behind it (`pending`), as the container awaits it before the
 * task's next message. Errors of that asynchronous work are handed to `onAsyncError`.
 */
import type { KeyValueStore } from '../store/types.js';
import { JobError, TaskFailedError } from '../util/errors.js';
import type { Codec, JobDefinition } from './job.js';
import type {
  IncomingEnvelope,
  Logger,
  StreamTask,
  TaskContext,
  TaskCoordinator,
  TaskMetrics,
} from './task.js';
import type { TestLogLine, TestRecord, TestTaskMetrics } from './test-driver-types.js';
import type { TestOutputs } from './test-outputs.js';
import type { TestStore } from './test-store.js';

export interface TestTaskOptions {
  job: JobDefinition;
  partition: number;
  stores: Map<string, TestStore>;
  outputs: TestOutputs;
  coordinator: TaskCoordinator;
  deadLetterTopic: string;
  /** Where `ctx.logger` lines go. */
  logs: TestLogLine[];
  onAsyncError: (err: unknown) => void;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isPromise(v: unknown): v is Promise<void> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<void>).then === 'function';
}

export class TestTask {
  readonly partition: number;
  readonly task: StreamTask;
  readonly context: TaskContext;
  readonly stores: Map<string, TestStore>;
  readonly counters = { processed: 0, skipped: 0, deadLettered: 0 };
  /** The task's queued asynchronous work; undefined when idle. */
  pending: Promise<void> | undefined;
  private readonly userCounters = new Map<string, { value: number; inc(by?: number): void }>();
  private readonly o: TestTaskOptions;

  constructor(o: TestTaskOptions) {
    this.o = o;
    this.partition = o.partition;
    this.stores = o.stores;
    const { partition, logs, stores } = o;
    const jobName = o.job.name;
    const metrics: TaskMetrics = {
      counter: (name) => {
        let c = this.userCounters.get(name);
        if (!c) {
          const counter = {
            value: 0,
            inc(by = 1) {
              counter.value += by;
            },
          };
          c = counter;
          this.userCounters.set(name, c);
        }
        return c;
      },
    };
    const line =
      (level: TestLogLine['level']) =>
      (message: string, fields?: Record<string, unknown>): void => {
        logs.push(
          fields === undefined ? { level, partition, message } : { level, partition, message, fields },
        );
      };
    const logger: Logger = { info: line('info'), warn: line('warn'), error: line('error') };
    this.context = {
      jobName,
      partition,
      taskName: `Partition ${partition}`,
      store<K, V>(name: string): KeyValueStore<K, V> {
        const s = stores.get(name);
        if (!s) {
          throw new JobError(
            `job "${jobName}" has no store "${name}" (stores: ${[...stores.keys()].join(', ') || 'none'})`,
          );
        }
        return s.store as KeyValueStore<K, V>;
      },
      metrics,
      logger,
    };
    this.task = o.job.task();
  }

  /** Runs `fn` now when the task is idle, else after its queued work. */
  run(fn: () => void | Promise<void>): void {
    if (this.pending === undefined) {
      const result = fn();
      if (isPromise(result)) this.track(result);
      return;
    }
    this.track(this.pending.then(() => fn()));
  }

  /** Processes one record of input `topic` (decoded with `input`'s serdes) under the error policy. */
  process(topic: string, input: { key: Codec<unknown>; value: Codec<unknown> }, record: TestRecord): void {
    this.run(() => this.processNow(topic, input, record));
  }

  window(): void {
    const window = this.task.window;
    if (typeof window !== 'function') return;
    this.run(() => window.call(this.task, this.o.outputs, this.o.coordinator));
  }

  metrics(): TestTaskMetrics {
    const counters: Record<string, number> = {};
    for (const [name, c] of this.userCounters) counters[name] = c.value;
    return { partition: this.partition, ...this.counters, counters };
  }

  private track(work: Promise<void>): void {
    const tracked: Promise<void> = work.then(
      () => {
        if (this.pending === tracked) this.pending = undefined;
      },
      (err: unknown) => {
        this.o.onAsyncError(err);
        if (this.pending === tracked) this.pending = undefined;
      },
    );
    this.pending = tracked;
  }

  private processNow(
    topic: string,
    input: { key: Codec<unknown>; value: Codec<unknown> },
    record: TestRecord,
  ): void | Promise<void> {
    let envelope: IncomingEnvelope;
    try {
      envelope = {
        topic,
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: record.key === null ? null : input.key.decode(record.key),
        value: record.value === null ? null : input.value.decode(record.value),
        headers: record.headers,
        rawKey: record.key,
        rawValue: record.value,
      };
    } catch (err) {
      this.failed(topic, record, err, 'could not be decoded');
      return;
    }
    let result: void | Promise<void>;
    try {
      result = this.task.process(envelope, this.o.outputs, this.o.coordinator);
    } catch (err) {
      this.failed(topic, record, err, 'failed in process()');
      return;
    }
    if (isPromise(result)) {
      return result.then(
        () => {
          this.counters.processed++;
        },
        (err: unknown) => this.failed(topic, record, err, 'failed in process()'),
      );
    }
    this.counters.processed++;
  }

  private failed(topic: string, record: TestRecord, err: unknown, what: string): void {
    const where = `${topic}/${record.partition}@${record.offset}`;
    const policy = this.o.job.onError;
    if (policy === 'fail') {
      throw new TaskFailedError(
        `message ${where} ${what}: ${errorMessage(err)} (onError is 'fail': fix the task or the data, or choose 'skip' or 'dead-letter')`,
        { cause: err },
      );
    }
    if (policy === 'skip') {
      this.counters.skipped++;
      this.context.logger.warn(`skipped message ${where}: ${what}: ${errorMessage(err)}`);
      return;
    }
    const outputs = this.o.outputs;
    outputs.appendRaw(this.o.deadLetterTopic, this.partition % outputs.partitions, {
      key: record.key,
      value: record.value,
      timestamp: record.timestamp,
      headers: {
        ...record.headers,
        'eddy.error': Buffer.from(`${what}: ${errorMessage(err)}`),
        'eddy.topic': Buffer.from(topic),
        'eddy.partition': Buffer.from(String(record.partition)),
        'eddy.offset': Buffer.from(String(record.offset)),
      },
    });
    this.counters.deadLettered++;
  }
}
