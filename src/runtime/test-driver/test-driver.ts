/**
 * The test driver: runs a job's tasks in memory so users can unit-test a job without a log, a
 * container or a disk (Kafka Streams' `TopologyTestDriver`, Samza's `TestRunner`).
 *
 * ```ts
 * import { TestDriver } from 'eddy/testing';
 * const driver = await TestDriver.create(job, { partitions: 2 });
 * driver.send('cart-events', { key: 'ann', value: { type: 'add', user: 'ann', item: 'tea', qty: 1, price: 4 } });
 * driver.outputs('cart-totals');            // [{ key: 'ann', value: { user: 'ann', total: 4, … }, partition: 0 }]
 * driver.store('carts', 0).get('ann');      // the cart ('ann' hashes to partition 0), read synchronously
 * driver.advanceTime(10_000);               // window() of every task, once per windowMs passed
 * await driver.commit();                    // flushes stores: driver.changelog('carts', 0) shows the writes
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
 * - Time is a fake clock, starting at the `now` option (default 0): input timestamps default to
 *   it, stores with `ttlMs` expire by it, and `advanceTime` is the only way windows fire (at fixed
 *   `windowMs` boundaries; the container schedules the next window `windowMs` after the last).
 * - Commits never happen by themselves: `coord.commit()` is only recorded (`commitRequests`), and
 *   `driver.commit()` flushes the stores, which is when their writes reach the changelog (the
 *   write-back cache holds them until a flush or a full write batch).
 * - `coord.shutdown()` is recorded (`isShutdown`); the driver keeps accepting messages so a test can
 *   go on inspecting state.
 */
import type { KeyValueStore } from '../../store/types.js';
import { InvalidArgumentError } from '../../util/errors.js';
import { partitionForKey } from '../../util/murmur2.js';
import { type Codec, deadLetterTopic, type JobDefinition } from '../job.js';
import type { TaskCoordinator } from '../task.js';
import type {
  TestChangelogRecord,
  TestDriverOptions,
  TestInput,
  TestLogLine,
  TestMetrics,
  TestOutput,
  TestRecord,
} from './test-driver-types.js';
import { TestOutputs } from './test-outputs.js';
import { openTestStore, type TestStore } from './test-store.js';
import { errorMessage, TestTask } from './test-task.js';

export type * from './test-driver-types.js';

/** The expiry stamp in front of every value of a TTL store (store/ttl-store.ts). */
const TTL_STAMP_BYTES = 8;

interface Input {
  readonly key: Codec<unknown>;
  readonly value: Codec<unknown>;
  /** The next offset of each partition. */
  readonly offsets: number[];
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
  /** Every line the tasks logged (`ctx.logger`), skipped messages included. */
  readonly logs: TestLogLine[] = [];

  private clock: number;
  private nextWindowAt: number | undefined;
  private readonly tasks: TestTask[] = [];
  private readonly inputs = new Map<string, Input>();
  private readonly out: TestOutputs;
  private asyncErrors: unknown[] = [];
  private closed = false;
  private readonly coordinator: TaskCoordinator = {
    commit: () => {
      this.commitRequests++;
    },
    shutdown: () => {
      this.isShutdown = true;
    },
  };

  private constructor(job: JobDefinition, partitions: number, now: number) {
    this.job = job;
    this.partitions = partitions;
    this.clock = now;
    this.nextWindowAt = job.windowMs === undefined ? undefined : now + job.windowMs;
    for (const input of job.inputs) {
      this.inputs.set(input.topic, {
        key: input.key,
        value: input.value,
        offsets: new Array(partitions).fill(0),
      });
    }
    // The container creates output topics with the job's partition count (default: the inputs').
    this.out = new TestOutputs(
      job,
      job.partitions ?? partitions,
      deadLetterTopic(job.name),
      () => this.clock,
    );
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
      await driver.close().catch(() => {});
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
    this.tasks[partition].process(topic, input, record);
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
      for (const t of this.tasks) t.window();
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
    return this.out.decoded<K, V>(topic);
  }

  /** The raw records sent to `topic` so far (bytes, partition, offset, timestamp, headers). */
  records(topic: string): readonly TestRecord[] {
    return this.out.records(topic);
  }

  /** Forgets every output sent so far (offsets keep counting). */
  clearOutputs(): void {
    this.out.clear();
  }

  /** Partition `partition` of a store of the job: the one task `partition` uses. Reads are synchronous. */
  store<K = unknown, V = unknown>(name: string, partition = 0): KeyValueStore<K, V> {
    return this.testStore(name, partition).store as KeyValueStore<K, V>;
  }

  /**
   * The records of partition `partition` of a store's changelog, decoded with the store's serdes
   * (with `expiresAt` for a store with `ttlMs`).
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
    return s.sink.records.map((r) => {
      const record: TestChangelogRecord<K, V> = {
        offset: r.offset,
        key: spec.key.decode(r.key) as K,
        value: null,
      };
      if (r.value === null) return record;
      if (spec.ttlMs === undefined) {
        record.value = spec.value.decode(r.value) as V;
        return record;
      }
      // A TTL store logs `[8-byte float64 BE expiry ms][value]` (see store/ttl-store.ts).
      const bytes = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      record.expiresAt = bytes.readDoubleBE(0);
      record.value = spec.value.decode(bytes.subarray(TTL_STAMP_BYTES)) as V;
      return record;
    });
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
    const tasks = this.tasks.map((t) => t.metrics());
    for (const t of tasks)
      for (const [name, v] of Object.entries(t.counters)) counters[name] = (counters[name] ?? 0) + v;
    const sum = (k: 'processed' | 'skipped' | 'deadLettered') => tasks.reduce((n, t) => n + t[k], 0);
    return {
      processed: sum('processed'),
      skipped: sum('skipped'),
      deadLettered: sum('deadLettered'),
      sent: this.out.sent,
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
        await t.close();
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

  private async createTask(partition: number): Promise<TestTask> {
    const stores = new Map<string, TestStore>();
    for (const [name, spec] of Object.entries(this.job.stores)) {
      stores.set(name, await openTestStore(name, partition, spec, () => this.clock));
    }
    return new TestTask({
      job: this.job,
      partition,
      stores,
      outputs: this.out,
      coordinator: this.coordinator,
      deadLetterTopic: deadLetterTopic(this.job.name),
      logs: this.logs,
      onAsyncError: (err) => this.asyncErrors.push(err),
    });
  }

  private input(topic: string): Input {
    this.assertOpen();
    const input = this.inputs.get(topic);
    if (!input) {
      throw new InvalidArgumentError(
        `"${topic}" is not an input of job "${this.job.name}" (inputs: ${[...this.inputs.keys()].join(', ')})`,
      );
    }
    return input;
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
