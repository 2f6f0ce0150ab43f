/**
 * One task of the test driver: the user's `StreamTask` for partition p, its context and stores,
 * and the container's own per-message path (`TaskInstance.process`, shared with it): decode with
 * the input's serdes, `process`, and the job's error policy (`fail` throws `TaskFailedError`,
 * `skip` counts and logs, `dead-letter` appends the raw record with `eddy.*` headers).
 *
 * Work runs at once when the task is idle; a `process` or `window` that returns a promise makes
 * later work of this task wait behind it (`pending`), as the container awaits it before the
 * task's next message. Errors of that asynchronous work are handed to `onAsyncError`.
 */
import type { KeyValueStore } from '../../store/types.js';
import type { Codec, JobDefinition } from '../job.js';
import type { Logger, StreamTask, TaskContext, TaskCoordinator } from '../task.js';
import { TaskInstance } from '../task-instance.js';
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
  readonly context: TaskContext;
  readonly stores: Map<string, TestStore>;
  /** The task's queued asynchronous work; undefined when idle. */
  pending: Promise<void> | undefined;
  /** The container's own per-task path, so the driver cannot drift from production. */
  private readonly instance: TaskInstance;
  private readonly o: TestTaskOptions;

  constructor(o: TestTaskOptions) {
    this.o = o;
    this.partition = o.partition;
    this.stores = o.stores;
    const { partition, logs } = o;
    const line =
      (level: TestLogLine['level']) =>
      (message: string, fields?: Record<string, unknown>): void => {
        logs.push(
          fields === undefined ? { level, partition, message } : { level, partition, message, fields },
        );
      };
    const logger: Logger = { info: line('info'), warn: line('warn'), error: line('error') };
    const stores = new Map<string, KeyValueStore<unknown, unknown>>();
    for (const [name, s] of o.stores) stores.set(name, s.store as KeyValueStore<unknown, unknown>);
    this.instance = new TaskInstance({
      jobName: o.job.name,
      partition,
      task: o.job.task(),
      inputs: [],
      stores,
      collector: o.outputs,
      onError: o.job.onError,
      deadLetterTopic: o.deadLetterTopic,
      logger,
      coordinator: o.coordinator,
    });
    this.context = this.instance.context;
  }

  get task(): StreamTask {
    return this.instance.task;
  }

  get counters(): { processed: number; skipped: number; deadLettered: number } {
    return this.instance.counters;
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
    const cursor = {
      topic,
      partition: record.partition,
      key: input.key,
      value: input.value,
      nextOffset: record.offset,
    };
    this.run(() => this.instance.process(cursor, record));
  }

  window(): void {
    if (!this.instance.hasWindow) return;
    this.run(() => this.instance.window());
  }

  close(): void | Promise<void> {
    return this.instance.close();
  }

  metrics(): TestTaskMetrics {
    const counters: Record<string, number> = {};
    for (const [name, c] of this.instance.userCounters) counters[name] = c.value;
    return { partition: this.partition, ...this.instance.counters, counters };
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
}
