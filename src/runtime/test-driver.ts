/**
 * The test driver: runs a job's tasks in memory so users can unit-test a job without a log, a
 * container or a disk (Kafka Streams' `TopologyTestDriver`, Samza's `TestRunner`).
 *
 * ```ts
 * import { TestDriver } from 'eddy/testing';
 * const driver = await TestDriver.create(job, { partitions: 2 });
 * driver.send('cart-events', { key: 'ann', value: { type: 'add', user: 'ann', item: 'tea', qty: 1, price: 4 } });
 * driver.outputs('cart-totals');            // [{ key: 'ann', value: { user: 'ann', total: 4, … }, partition: 1 }]
 * driver.store('carts', 1).get('ann');      // the cart, read synchronously
 * driver.advanceTime(10_000);               // window() of every task, once per windowMs passed
 * await driver.commit();                    // flushes stores: driver.changelog('carts', 1) shows the writes
 * await driver.close();
 * ```
 *
 * What it models faithfully, per task, as the container does (see `task-instance.ts`):
 * - one task per partition; partition p of every input goes to task p; task p owns partition p of
 *   every store (the real store stack, memory engine, with an in-memory changelog);
 * - routing of `send`: an explicit partition, else Kafka's murmur2 partitioner over the key encoded
 *   with the input's key serde, else partition 0;
 * - the envelope: the key and value are encoded with the input's serdes and decoded again, so the
 *   task sees what it would see in production (and `rawKey`/`rawValue` are the bytes);
 * - outputs are encoded with the output's serdes when sent and decoded when read; keyed messages
 *   are routed with murmur2, keyless ones round-robin; an undeclared output topic throws `JobError`;
 * - the error policy (`onError`) for a message that cannot be decoded or whose `process` throws:
 *   `fail` → `send` throws `TaskFailedError` naming topic/partition/offset with the cause; `skip` →
 *   counted in `metrics().skipped`; `dead-letter` → the raw record goes to
 *   `deadLetterTopic(job.name)` with headers `eddy.error`, `eddy.topic`, `eddy.partition`,
 *   `eddy.offset` (read it with `outputs()`: key and value stay raw `Buffer`s).
 *
 * Where it differs, on purpose:
 * - Synchronous: `send` and `advanceTime` run the task before they return when `process`/`window`
 *   are synchronous. When they return a promise, the driver queues later work of that task behind
 *   it (order per task is kept) and `await driver.settle()` waits for all of it; with the `fail`
 *   policy the error of an asynchronous `process` is thrown by `settle()`.
 * - Time is a fake clock (`now`, default 0 … the `now` option): input timestamps default to it, and
 *   `advanceTime` is the only way windows fire. Commits never happen by themselves:
 *   `coord.commit()` is only recorded (`commitRequests`) and `driver.commit()` flushes the stores,
 *   which is when their writes reach the changelog (the write-back cache holds them until then).
 * - `coord.shutdown()` is recorded (`isShutdown`); the driver keeps accepting messages so a test can
 *   go on inspecting state.
 */
import type { KeyValueStore } from '../store/types.js';
import { InvalidArgumentError, JobError, TaskFailedError } from '../util/errors.js';
import { partitionForKey } from '../util/murmur2.js';
import { type Codec, deadLetterTopic, type JobDefinition } from './job.js';
import type {
  IncomingEnvelope,
  Logger,
  MessageCollector,
  OutgoingMessage,
  StreamTask,
  TaskContext,
  TaskCoordinator,
  TaskMetrics,
} from './task.js';
import { openTestStore, type TestStore } from './test-store.js';

/** Options of `TestDriver.create`. */
export interface TestDriverOptions {
  /** Partitions of every input (and so the number of tasks). Default: the job's `partitions`, else 1. */
  partitions?: number;
  /** The fake clock's start, in ms since the epoch. Default 0. */
  now?: number;
}

/** A message to feed to an input topic, with its key and value as the job's code sees them. */
export interface TestInput<K = unknown, V = unknown> {
  key?: K | null;
  /** `null` sends a tombstone. */
  value: V | null;
  /** Default: murmur2 over the encoded key, or 0 without a key. */
  partition?: number;
  /** Default: the fake clock's `now`. */
  timestamp?: number;
  /** Strings are encoded as UTF-8. */
  headers?: Record<string, Buffer | string>;
}

/** A message a task sent, decoded with its output's serdes. `headers` only when it had some. */
export interface TestOutput<K = unknown, V = unknown> {
  key: K | null;
  value: V | null;
  partition: number;
  headers?: Record<string, Buffer>;
}

/** A record as it would be appended to a topic: raw bytes, with its partition and offset. */
export interface TestRecord {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer>>;
}

/** A changelog record of a store, decoded; `value` null is a tombstone. */
export interface TestChangelogRecord<K = unknown, V = unknown> {
  offset: number;
  key: K;
  value: V | null;
}

export interface TestTaskMetrics {
  partition: number;
  processed: number;
  skipped: number;
  deadLettered: number;
  /** The task's own counters (`ctx.metrics.counter(name)`). */
  counters: Record<string, number>;
}

export interface TestMetrics {
  processed: number;
  skipped: number;
  deadLettered: number;
  /** Messages sent to outputs (dead letters included). */
  sent: number;
  /** Every task's counters summed by name. */
  counters: Record<string, number>;
  tasks: TestTaskMetrics[];
}

/** A log line of a task (`ctx.logger`), kept for assertions. */
export interface TestLogLine {
  level: 'info' | 'warn' | 'error';
  partition: number;
  message: string;
  fields?: Record<string, unknown>;
}

interface OutputTopic {
  readonly key: Codec<unknown>;
  readonly value: Codec<unknown>;
  /** Dead letters are kept raw: never decoded. */
  readonly raw: boolean;
  readonly records: TestRecord[];
  readonly nextOffset: number[];
}

interface DriverTask {
  readonly partition: number;
  readonly task: StreamTask;
  readonly context: TaskContext;
  readonly stores: Map<string, TestStore>;
  readonly counters: { processed: number; skipped: number; deadLettered: number };
  readonly userCounters: Map<string, { value: number; inc(by?: number): void }>;
  /** The task's queued asynchronous work; undefined when idle. */
  pending: Promise<void> | undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Encodes a test input with the input's serde; a serde that refuses it is the test's mistake. */
function encode(codec: Codec<unknown>, v: unknown, topic: string, what: 'key' | 'value'): Buffer {
  try {
    return Buffer.from(codec.encode(v));
  } catch (err) {
    throw new InvalidArgumentError(
      `the ${what} sent to "${topic}" cannot be encoded with the input's serde: ${errorMessage(err)} (use sendRaw to send bytes the serde cannot read)`,
      { cause: err },
    );
  }
}

function isPromise(v: unknown): v is Promise<void> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<void>).then === 'function';
}

/** Runs a job's tasks in memory, synchronously. Create it with `TestDriver.create`. */
export class TestDriver {
  /** The job under test. */
  readonly job: JobDefinition;
  /** Partitions of every input; one task each. */
  readonly partitions: number;
  /** How many times a task called `coord.commit()`. */
  commitRequests = 0;
  /** True once a task called `coord.shutdown()`. */
  isShutdown = false;
  /** Every line the tasks logged. */
  readonly logs: TestLogLine[] = [];

  private clock: number;
  private nextWindowAt: number | undefined;
  private readonly tasks: DriverTask[] = [];
  private readonly inputs = new Map<
    string,
    { key: Codec<unknown>; value: Codec<unknown>; offsets: number[] }
  >();
  private readonly outputTopics = new Map<string, OutputTopic>();
  private readonly outputPartitions: number;
  private readonly deadLetters: string;
  private roundRobin = 0;
  private sent = 0;
  private asyncErrors: unknown[] = [];
  private closed = false;

  private constructor(job: JobDefinition, partitions: number, now: number) {
    this.job = job;
    this.partitions = partitions;
    this.clock = now;
    this.nextWindowAt = job.windowMs === undefined ? undefined : now + job.windowMs;
    this.outputPartitions = job.partitions ?? partitions;
    this.deadLetters = deadLetterTopic(job.name);
    for (const input of job.inputs) {
      this.inputs.set(input.topic, {
        key: input.key,
        value: input.value,
        offsets: new Array(partitions).fill(0),
      });
    }
    for (const output of job.outputs) this.addOutput(output.topic, output.key, output.value, false);
    const bytes: Codec<unknown> = { encode: (v) => v as Uint8Array, decode: (b) => Buffer.from(b) };
    this.addOutput(this.deadLetters, bytes, bytes, true);
  }

  /**
   * Opens every task's stores (memory engine, in-memory changelog), creates one task per
   * partition and calls their `init`. Throws `InvalidArgumentError` for bad options.
   */
  static async create(job: JobDefinition, options: TestDriverOptions = {}): Promise<TestDriver> {
    const partitions = options.partitions ?? job.partitions ?? 1;
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new InvalidArgumentError(`partitions must be a positive integer, got ${partitions}`);
    }
    const now = options.now ?? 0;
    if (!Number.isFinite(now)) throw new InvalidArgumentError(`now must be a number of ms, got ${now}`);
    const driver = new TestDriver(job, partitions, now);
    try {
      for (let p = 0; p < partitions; p++) driver.tasks.push(await driver.createTask(p));
      for (const t of driver.tasks) await t.task.init?.(t.context);
    } catch (err) {
      await driver.close();
      throw err;
    }
    return driver;
  }

  /** The fake clock, in ms. */
  get now(): number {
    return this.clock;
  }

  /**
   * Appends a message to partition `partition` of input `topic` and processes it (before returning
   * when the task's `process` is synchronous). The key and value are encoded with the input's serdes
   * (then decoded for the task, as the runtime does). Returns the record's partition and offset.
   * Throws `TaskFailedError` under `onError: 'fail'`; `InvalidArgumentError` for an unknown topic or
   * partition, a missing value, or a key or value the input's serde cannot encode.
   */
  send<K = unknown, V = unknown>(
    topic: string,
    message: TestInput<K, V>,
  ): { partition: number; offset: number } {
    const input = this.input(topic);
    if (message.value === undefined) {
      throw new InvalidArgumentError(`a message to "${topic}" needs a value (null sends a tombstone)`);
    }
    const key =
      message.key === undefined || message.key === null ? null : encode(input.key, message.key, topic, 'key');
    const value = message.value === null ? null : encode(input.value, message.value, topic, 'value');
    return this.sendRaw(topic, { ...message, key, value });
  }

  /**
   * Like `send`, with the key and value given as the bytes a producer wrote (to test data the
   * input's serdes cannot decode). Routing hashes the raw key.
   */
  sendRaw(topic: string, message: TestInput<Buffer, Buffer>): { partition: number; offset: number } {
    const input = this.input(topic);
    const key = message.key ?? null;
    const value = message.value;
    let partition = message.partition;
    if (partition === undefined) partition = key === null ? 0 : partitionForKey(key, this.partitions);
    else if (!Number.isInteger(partition) || partition < 0 || partition >= this.partitions) {
      throw new InvalidArgumentError(
        `partition ${partition} does not exist in "${topic}" (0..${this.partitions - 1}; set the driver's partitions option)`,
      );
    }
    const headers: Record<string, Buffer> = {};
    for (const [name, h] of Object.entries(message.headers ?? {})) {
      headers[name] = typeof h === 'string' ? Buffer.from(h) : h;
    }
    const offset = input.offsets[partition]++;
    const record: TestRecord = {
      partition,
      offset,
      timestamp: message.timestamp ?? this.clock,
      key,
      value,
      headers,
    };
    const task = this.tasks[partition];
    this.run(task, () => this.processRecord(task, topic, input, record));
    return { partition, offset };
  }

  /**
   * Moves the fake clock forward by `ms` and calls `window()` of every task once per `windowMs`
   * boundary passed (with the clock set to each boundary in turn). No-op for windows when the job
   * has no `windowMs`. An error thrown by `window()` is thrown here (as in the runtime, where it
   * stops the container), whatever `onError` says.
   */
  advanceTime(ms: number): void {
    this.assertOpen();
    if (!Number.isFinite(ms) || ms < 0)
      throw new InvalidArgumentError(`advanceTime needs ms >= 0, got ${ms}`);
    const target = this.clock + ms;
    const windowMs = this.job.windowMs;
    while (windowMs !== undefined && this.nextWindowAt !== undefined && this.nextWindowAt <= target) {
      this.clock = this.nextWindowAt;
      this.nextWindowAt += windowMs;
      for (const t of this.tasks) {
        if (typeof t.task.window !== 'function') continue;
        this.run(t, () => t.task.window?.(this.collectorOf(t), this.coordinator));
      }
    }
    this.clock = target;
  }

  /** Waits until every task's queued asynchronous work is done; throws the first error it hit. */
  async settle(): Promise<void> {
    for (;;) {
      const pending = this.tasks.map((t) => t.pending).filter((p) => p !== undefined);
      if (pending.length === 0) break;
      await Promise.all(pending);
    }
    const errors = this.asyncErrors;
    this.asyncErrors = [];
    if (errors.length > 0) throw errors[0];
  }

  /** The messages sent to `topic` so far, decoded with its serdes, in send order. */
  outputs<K = unknown, V = unknown>(topic: string): TestOutput<K, V>[] {
    const out = this.outputTopic(topic);
    return out.records.map((r) => {
      const o: TestOutput<K, V> = {
        key: r.key === null ? null : ((out.raw ? r.key : out.key.decode(r.key)) as K),
        value: r.value === null ? null : ((out.raw ? r.value : out.value.decode(r.value)) as V),
        partition: r.partition,
      };
      if (Object.keys(r.headers).length > 0) o.headers = { ...r.headers };
      return o;
    });
  }

  /** The raw records sent to `topic` so far (bytes, partition, offset, timestamp, headers). */
  records(topic: string): readonly TestRecord[] {
    return [...this.outputTopic(topic).records];
  }

  /** Forgets every output sent so far (offsets keep counting). */
  clearOutputs(): void {
    for (const out of this.outputTopics.values()) out.records.length = 0;
  }

  /** Partition `partition` of a store of the job: the one task `partition` uses. Reads are synchronous. */
  store<K = unknown, V = unknown>(name: string, partition = 0): KeyValueStore<K, V> {
    return this.testStore(name, partition).store as KeyValueStore<K, V>;
  }

  /**
   * The records of partition `partition` of a store's changelog, decoded with the store's serdes.
   * Writes reach the changelog when the store is flushed: after `commit()` (or `close()`).
   */
  changelog<K = unknown, V = unknown>(name: string, partition = 0): TestChangelogRecord<K, V>[] {
    const s = this.testStore(name, partition);
    if (s.sink === undefined) {
      throw new InvalidArgumentError(
        `store "${name}" of job "${this.job.name}" has no changelog (changelog: false)`,
      );
    }
    const spec = this.job.stores[name];
    return s.sink.records.map((r) => ({
      offset: r.offset,
      key: spec.key.decode(r.key) as K,
      value: r.value === null ? null : (spec.value.decode(r.value) as V),
    }));
  }

  /** Flushes every store of every task (their writes reach the changelog), after `settle()`. */
  async commit(): Promise<void> {
    this.assertOpen();
    await this.settle();
    for (const t of this.tasks) for (const s of t.stores.values()) await s.store.flush();
  }

  /** Counters of the driver and of every task. */
  metrics(): TestMetrics {
    const counters: Record<string, number> = {};
    const tasks = this.tasks.map((t) => {
      const own: Record<string, number> = {};
      for (const [name, c] of t.userCounters) {
        own[name] = c.value;
        counters[name] = (counters[name] ?? 0) + c.value;
      }
      return { partition: t.partition, ...t.counters, counters: own };
    });
    const sum = (k: 'processed' | 'skipped' | 'deadLettered') => tasks.reduce((n, t) => n + t[k], 0);
    return {
      processed: sum('processed'),
      skipped: sum('skipped'),
      deadLettered: sum('deadLettered'),
      sent: this.sent,
      counters,
      tasks,
    };
  }

  /** Waits for queued work, calls every task's `close`, then closes the stores. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let first: unknown;
    try {
      await this.settle();
    } catch (err) {
      first = err;
    }
    for (const t of this.tasks) {
      try {
        await t.task.close?.();
      } catch (err) {
        first ??= err;
      }
      for (const s of t.stores.values()) {
        try {
          await s.store.close();
        } catch (err) {
          first ??= err;
        }
      }
    }
    if (first !== undefined) throw first;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----

  private readonly coordinator: TaskCoordinator = {
    commit: () => {
      this.commitRequests++;
    },
    shutdown: () => {
      this.isShutdown = true;
    },
  };

  private async createTask(partition: number): Promise<DriverTask> {
    const stores = new Map<string, TestStore>();
    for (const [name, spec] of Object.entries(this.job.stores)) {
      stores.set(name, await openTestStore(name, partition, spec, () => this.clock));
    }
    const userCounters = new Map<string, { value: number; inc(by?: number): void }>();
    const metrics: TaskMetrics = {
      counter: (name) => {
        let c = userCounters.get(name);
        if (!c) {
          const counter = {
            value: 0,
            inc(by = 1) {
              counter.value += by;
            },
          };
          c = counter;
          userCounters.set(name, c);
        }
        return c;
      },
    };
    const logs = this.logs;
    const line =
      (level: TestLogLine['level']) =>
      (message: string, fields?: Record<string, unknown>): void => {
        logs.push(
          fields === undefined ? { level, partition, message } : { level, partition, message, fields },
        );
      };
    const logger: Logger = { info: line('info'), warn: line('warn'), error: line('error') };
    const jobName = this.job.name;
    const context: TaskContext = {
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
    return {
      partition,
      task: this.job.task(),
      context,
      stores,
      counters: { processed: 0, skipped: 0, deadLettered: 0 },
      userCounters,
      pending: undefined,
    };
  }

  /**
   * Runs `fn` for task `t` now when the task is idle, else after its queued work. A promise
   * returned by `fn` becomes the task's pending work; its rejection is kept for `settle()`.
   */
  private run(t: DriverTask, fn: () => void | Promise<void>): void {
    if (t.pending === undefined) {
      const result = fn();
      if (isPromise(result)) this.track(t, result);
      return;
    }
    this.track(
      t,
      t.pending.then(() => fn()),
    );
  }

  private track(t: DriverTask, work: Promise<void>): void {
    const tracked: Promise<void> = work.then(
      () => {
        if (t.pending === tracked) t.pending = undefined;
      },
      (err: unknown) => {
        this.asyncErrors.push(err);
        if (t.pending === tracked) t.pending = undefined;
      },
    );
    t.pending = tracked;
  }

  /** The container's per-message path (`TaskInstance.process`): decode, process, error policy. */
  private processRecord(
    t: DriverTask,
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
      this.failed(t, topic, record, err, 'could not be decoded');
      return;
    }
    let result: void | Promise<void>;
    try {
      result = t.task.process(envelope, this.collectorOf(t), this.coordinator);
    } catch (err) {
      this.failed(t, topic, record, err, 'failed in process()');
      return;
    }
    if (isPromise(result)) {
      return result.then(
        () => {
          t.counters.processed++;
        },
        (err: unknown) => this.failed(t, topic, record, err, 'failed in process()'),
      );
    }
    t.counters.processed++;
  }

  private failed(t: DriverTask, topic: string, record: TestRecord, err: unknown, what: string): void {
    const where = `${topic}/${record.partition}@${record.offset}`;
    if (this.job.onError === 'fail') {
      throw new TaskFailedError(
        `message ${where} ${what}: ${errorMessage(err)} (onError is 'fail': fix the task or the data, or choose 'skip' or 'dead-letter')`,
        { cause: err },
      );
    }
    if (this.job.onError === 'skip') {
      t.counters.skipped++;
      t.context.logger.warn(`skipped message ${where}: ${what}: ${errorMessage(err)}`);
      return;
    }
    this.append(this.deadLetters, t.partition % this.outputPartitions, {
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
    t.counters.deadLettered++;
  }

  /** The collector a task sends with (the container's `OutputCollector.send`, minus buffering). */
  private collectorOf(_t: DriverTask): MessageCollector {
    return this.collector;
  }

  private readonly collector: MessageCollector = {
    send: <K, V>(message: OutgoingMessage<K, V>): void => {
      const out = this.outputTopics.get(message.topic);
      if (!out || out.raw) {
        throw new JobError(
          `message sent to "${message.topic}", which is not among the job's outputs (${this.job.outputs.map((o) => o.topic).join(', ')}); add it to outputs`,
        );
      }
      const key =
        message.key === undefined || message.key === null ? null : Buffer.from(out.key.encode(message.key));
      const value = message.value === null ? null : Buffer.from(out.value.encode(message.value));
      let partition = message.partition;
      const n = this.outputPartitions;
      if (partition === undefined) {
        partition = key !== null ? partitionForKey(key, n) : this.roundRobin++ % n;
      } else if (!Number.isInteger(partition) || partition < 0 || partition >= n) {
        throw new JobError(
          `partition ${partition} does not exist in output "${message.topic}" (0..${n - 1})`,
        );
      }
      this.append(message.topic, partition, {
        key,
        value,
        timestamp: message.timestamp ?? this.clock,
        headers: message.headers ?? {},
      });
    },
  };

  private append(topic: string, partition: number, r: Omit<TestRecord, 'partition' | 'offset'>): void {
    const out = this.outputTopic(topic);
    out.records.push({ ...r, partition, offset: out.nextOffset[partition]++ });
    this.sent++;
  }

  private addOutput(topic: string, key: Codec<unknown>, value: Codec<unknown>, raw: boolean): void {
    this.outputTopics.set(topic, {
      key,
      value,
      raw,
      records: [],
      nextOffset: new Array(this.outputPartitions).fill(0),
    });
  }

  private input(topic: string): { key: Codec<unknown>; value: Codec<unknown>; offsets: number[] } {
    this.assertOpen();
    const input = this.inputs.get(topic);
    if (!input) {
      throw new InvalidArgumentError(
        `"${topic}" is not an input of job "${this.job.name}" (inputs: ${[...this.inputs.keys()].join(', ')})`,
      );
    }
    return input;
  }

  private outputTopic(topic: string): OutputTopic {
    const out = this.outputTopics.get(topic);
    if (!out) {
      throw new InvalidArgumentError(
        `"${topic}" is not an output of job "${this.job.name}" (outputs: ${[...this.outputTopics.keys()].join(', ')})`,
      );
    }
    return out;
  }

  private testStore(name: string, partition: number): TestStore {
    if (!Number.isInteger(partition) || partition < 0 || partition >= this.partitions) {
      throw new InvalidArgumentError(`partition ${partition} does not exist (0..${this.partitions - 1})`);
    }
    const s = this.tasks[partition]?.stores.get(name);
    if (!s) {
      throw new InvalidArgumentError(
        `job "${this.job.name}" has no store "${name}" (stores: ${Object.keys(this.job.stores).join(', ') || 'none'})`,
      );
    }
    return s;
  }

  private assertOpen(): void {
    if (this.closed) throw new InvalidArgumentError('the test driver is closed');
  }
}
