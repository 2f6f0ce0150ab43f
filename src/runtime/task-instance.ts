/**
 * One task of a container: partition p of every input, partition p of every store, the user's
 * `StreamTask`, and the per-message path — decode, `process`, and the job's error policy.
 *
 * The error policy (`onError`) applies to a message whose key or value cannot be decoded and to a
 * `process` call that throws or rejects:
 * - `fail`: a `TaskFailedError` (topic, partition, offset, cause) stops the container; nothing past
 *   the last commit is committed, so the message is processed again after a restart.
 * - `skip`: counted in `skipped` and logged; processing goes on.
 * - `dead-letter`: the raw record is sent to `<job>-dead-letters` with the error and its origin in
 *   headers (`eddy.error`, `eddy.topic`, `eddy.partition`, `eddy.offset`); counted in `deadLettered`.
 */
import type { LogRecord } from '../log/types.js';
import type { KeyValueStore } from '../store/types.js';
import { JobError, TaskFailedError } from '../util/errors.js';
import type { Codec, ErrorPolicy } from './job.js';
import type {
  IncomingEnvelope,
  Logger,
  MessageCollector,
  StreamTask,
  TaskContext,
  TaskCoordinator,
  TaskMetrics,
} from './task.js';

/** Where a task's messages go: the container's `OutputCollector`, or the test driver's outputs. */
export interface TaskOutputs extends MessageCollector {
  /** Buffers an already-encoded record (dead letters). */
  appendRaw(
    topic: string,
    partition: number,
    record: { key: Buffer | null; value: Buffer | null; timestamp: number; headers: Record<string, Buffer> },
  ): void;
  /** The partition count of an output topic, if it is one. */
  partitionsOf(topic: string): number | undefined;
}

/** One input partition of a task and the position in it. */
export interface TaskInput {
  readonly topic: string;
  readonly partition: number;
  readonly key: Codec<unknown>;
  readonly value: Codec<unknown>;
  /** The next offset to process (what the checkpoint records). */
  nextOffset: number;
}

export interface TaskCounters {
  processed: number;
  skipped: number;
  deadLettered: number;
}

export interface TaskInstanceOptions {
  jobName: string;
  partition: number;
  task: StreamTask;
  inputs: TaskInput[];
  stores: Map<string, KeyValueStore<unknown, unknown>>;
  collector: TaskOutputs;
  onError: ErrorPolicy;
  deadLetterTopic: string;
  logger: Logger;
  coordinator: TaskCoordinator;
}

/** A logger that adds `fields` to every line (the task's: job, task and partition). */
export function loggerWithFields(logger: Logger, fields: Record<string, unknown>): Logger {
  return {
    info: (message, more) => logger.info(message, more === undefined ? fields : { ...fields, ...more }),
    warn: (message, more) => logger.warn(message, more === undefined ? fields : { ...fields, ...more }),
    error: (message, more) => logger.error(message, more === undefined ? fields : { ...fields, ...more }),
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class TaskInstance {
  readonly name: string;
  readonly partition: number;
  readonly inputs: TaskInput[];
  readonly stores: Map<string, KeyValueStore<unknown, unknown>>;
  readonly counters: TaskCounters = { processed: 0, skipped: 0, deadLettered: 0 };
  readonly userCounters = new Map<string, { value: number; inc(by?: number): void }>();
  readonly context: TaskContext;
  readonly task: StreamTask;
  private readonly collector: TaskOutputs;
  private readonly onError: ErrorPolicy;
  private readonly deadLetterTopic: string;
  private readonly logger: Logger;
  private readonly coordinator: TaskCoordinator;

  constructor(o: TaskInstanceOptions) {
    this.name = `Partition ${o.partition}`;
    this.partition = o.partition;
    this.inputs = o.inputs;
    this.stores = o.stores;
    this.task = o.task;
    this.collector = o.collector;
    this.onError = o.onError;
    this.deadLetterTopic = o.deadLetterTopic;
    this.logger = loggerWithFields(o.logger, { job: o.jobName, task: this.name, partition: o.partition });
    this.coordinator = o.coordinator;
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
    const stores = this.stores;
    const jobName = o.jobName;
    this.context = {
      jobName,
      partition: o.partition,
      taskName: this.name,
      store<K, V>(name: string): KeyValueStore<K, V> {
        const s = stores.get(name);
        if (!s) {
          throw new JobError(
            `job "${jobName}" has no store "${name}" (stores: ${[...stores.keys()].join(', ') || 'none'})`,
          );
        }
        return s as KeyValueStore<K, V>;
      },
      metrics,
      logger: this.logger,
    };
  }

  async init(): Promise<void> {
    await this.task.init?.(this.context);
  }

  /**
   * Processes one record of `input`. Returns a promise only when the task's `process` did (or the
   * error policy needs one); the caller awaits it before the next message of this task.
   */
  process(input: TaskInput, record: LogRecord): void | Promise<void> {
    let envelope: IncomingEnvelope;
    try {
      envelope = {
        topic: input.topic,
        partition: input.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: record.key === null ? null : input.key.decode(record.key),
        value: record.value === null ? null : input.value.decode(record.value),
        headers: record.headers,
        rawKey: record.key,
        rawValue: record.value,
      };
    } catch (err) {
      this.failed(input, record, err, 'could not be decoded');
      input.nextOffset = record.offset + 1;
      return;
    }
    let result: void | Promise<void>;
    try {
      result = this.task.process(envelope, this.collector, this.coordinator);
    } catch (err) {
      this.failed(input, record, err, 'failed in process()');
      input.nextOffset = record.offset + 1;
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      return (result as Promise<void>).then(
        () => {
          this.counters.processed++;
          input.nextOffset = record.offset + 1;
        },
        (err: unknown) => {
          this.failed(input, record, err, 'failed in process()');
          input.nextOffset = record.offset + 1;
        },
      );
    }
    this.counters.processed++;
    input.nextOffset = record.offset + 1;
  }

  window(): void | Promise<void> {
    return this.task.window?.(this.collector, this.coordinator);
  }

  close(): void | Promise<void> {
    return this.task.close?.();
  }

  get hasWindow(): boolean {
    return typeof this.task.window === 'function';
  }

  private failed(input: TaskInput, record: LogRecord, err: unknown, what: string): void {
    const where = `${input.topic}/${input.partition}@${record.offset}`;
    if (this.onError === 'fail') {
      throw new TaskFailedError(
        `message ${where} ${what}: ${errorMessage(err)} (onError is 'fail': fix the task or the data, or choose 'skip' or 'dead-letter')`,
        { cause: err },
      );
    }
    if (this.onError === 'skip') {
      this.counters.skipped++;
      this.logger.warn(`skipped message ${where}: ${what}: ${errorMessage(err)}`, {
        topic: input.topic,
        offset: record.offset,
        error: errorMessage(err),
      });
      return;
    }
    const partitions = this.collector.partitionsOf(this.deadLetterTopic) ?? 1;
    this.collector.appendRaw(this.deadLetterTopic, this.partition % partitions, {
      key: record.key,
      value: record.value,
      timestamp: record.timestamp,
      headers: {
        ...record.headers,
        'eddy.error': Buffer.from(`${what}: ${errorMessage(err)}`),
        'eddy.topic': Buffer.from(input.topic),
        'eddy.partition': Buffer.from(String(input.partition)),
        'eddy.offset': Buffer.from(String(record.offset)),
      },
    });
    this.counters.deadLettered++;
    this.logger.warn(
      `dead-lettered message ${where} to ${this.deadLetterTopic}: ${what}: ${errorMessage(err)}`,
      {
        topic: input.topic,
        offset: record.offset,
        error: errorMessage(err),
        deadLetter: true,
      },
    );
  }
}
