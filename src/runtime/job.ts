/**
 * A job's definition: `defineJob({...})` validates it once, fills in the defaults, and returns the
 * frozen `JobDefinition` that `eddy run`, the runtime and the test driver take.
 *
 * Every bad key is reported at once in one `ConfigError`, each line naming its key; unknown keys are
 * errors (a misspelt `comitMs` must not be silently ignored: "did you mean commitMs?"). The checks are
 * one schema (`JOB_SCHEMA`, TypeBox) plus the store combinations of `store/store-options.ts`.
 */
import { cacheLimits, STORE_TUNING, storeCombinationProblems } from '../store/store-schema.js';
import { ConfigError } from '../util/errors.js';
import { Codec as CodecSchema, compile, Type } from '../util/schema.js';
import type { StreamTask } from './task.js';

/** The serde shape the runtime needs (every `serdes.*` of the store fits it). */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** An input or output topic and how its keys and values are decoded/encoded. */
export interface StreamSpec {
  topic: string;
  key?: Codec<unknown>;
  value?: Codec<unknown>;
}

/** A store of the job; each task owns its partition of it. */
export interface JobStoreSpec {
  engine?: 'lmdb' | 'memory' | 'rocksdb';
  key: Codec<unknown>;
  value: Codec<unknown>;
  /**
   * Bytes the store's cache holds, per partition: key + value + a fixed overhead per entry
   * (default 8 MiB; no cache with the memory engine, see `StoreOptions.cacheBytes`).
   */
  cacheBytes?: number;
  /** Deprecated, use `cacheBytes`: entries the store's cache holds (alone: no limit by bytes). */
  cacheSize?: number;
  /**
   * Dirty entries that force a write to the engine before the next commit (default: cacheSize
   * when given, else none: dirty entries go down at the commit or when the cache evicts them, so
   * the engine — an fsync'd transaction for LMDB — is written about once per commit).
   */
  writeBatchSize?: number;
  /** Default true: every write goes to the `<job>-<store>-changelog` topic. */
  changelog?: boolean;
  ttlMs?: number;
  maxRecordBytes?: number;
  /** Memory engine: keys expected per partition, to size its index up front. */
  expectedKeys?: number;
  /**
   * Memory engine with a changelog: the least time between two local snapshot files (written in
   * the background at a commit), so a restart replays only the changelog after the last one;
   * `false` for none. Default 10,000 ms.
   */
  snapshotMs?: number | false;
}

export type ErrorPolicy = 'fail' | 'skip' | 'dead-letter';

export interface JobInput {
  name: string;
  inputs: (string | StreamSpec)[];
  outputs?: (string | StreamSpec)[];
  stores?: Record<string, JobStoreSpec>;
  task: () => StreamTask;
  /**
   * Commit interval: how often stores, outputs and input offsets are made durable together (default
   * 1000 ms; 100 ms with `exactlyOnce`, where outputs become visible at the commit, as Kafka Streams'
   * default under exactly-once).
   */
  commitMs?: number;
  /**
   * At-least-once: how long a task's outputs may wait in its buffer before they are appended to
   * their topics (default 5 ms, Kafka's producer `linger.ms`); the loop also appends them as soon as
   * it runs out of input, so at low load an output is out within a few milliseconds, not at the next
   * commit. The commit still makes them durable before the checkpoint that covers their inputs.
   * Not for `exactlyOnce` jobs: their outputs are appended in the commit's transaction.
   */
  lingerMs?: number;
  /**
   * A memory budget shared by the caches of every store of every task of the job in this process
   * (in bytes, counted as `cacheBytes` counts): when their total passes it, the cache that inserts
   * evicts its own least recently used entries, writing its dirty ones down first. Default: none
   * (each cache is bounded by its own `cacheBytes` alone).
   */
  cacheBudgetBytes?: number;
  /** Window interval; no window calls when unset. */
  windowMs?: number;
  /** State, outputs and input offsets move together (default false: at-least-once). */
  exactlyOnce?: boolean;
  /** What to do with a message that cannot be decoded or whose processing throws (default 'fail'). */
  onError?: ErrorPolicy;
  /** Where to start inputs that have no checkpoint (default 'earliest'). */
  startFrom?: 'earliest' | 'latest';
  /** Default serdes of inputs and outputs that do not name their own (default string keys, JSON values). */
  serdes?: { key?: Codec<unknown>; value?: Codec<unknown> };
  /** Partitions of output and changelog topics the job creates (default: the inputs' partition count). */
  partitions?: number;
  /** Replication factor of the topics the job creates (Kafka only; default 1). */
  replicationFactor?: number;
  /**
   * Worker threads the tasks are spread over in one process: N, or `'auto'` = min(cores, tasks).
   * `eddy run --threads` (and the config key) win over it; unset, 1 (every task on one event
   * loop): the task threads' transport does not yet beat one loop on every job (README, Threads).
   */
  threads?: number | 'auto';
}

const JOB_MARK: unique symbol = Symbol.for('eddy.job') as never;

export interface JobDefinition
  extends Readonly<
    Required<
      Omit<
        JobInput,
        | 'windowMs'
        | 'partitions'
        | 'serdes'
        | 'inputs'
        | 'outputs'
        | 'stores'
        | 'lingerMs'
        | 'cacheBudgetBytes'
        | 'threads'
      >
    >
  > {
  /** Bytes shared by every cache of the job in this process (undefined: no shared budget). */
  readonly cacheBudgetBytes: number | undefined;
  readonly windowMs: number | undefined;
  /** At-least-once linger of outputs; `undefined` for exactly-once jobs (outputs go out at commit). */
  readonly lingerMs: number | undefined;
  readonly partitions: number | undefined;
  readonly threads: number | 'auto' | undefined;
  readonly inputs: readonly Required<StreamSpec>[];
  readonly outputs: readonly Required<StreamSpec>[];
  readonly stores: Readonly<Record<string, ResolvedStoreSpec>>;
  readonly [JOB_MARK]: true;
}

/** A job store's spec after `defineJob`: its engine and changelog flag filled in, the optional tuning as given. */
export type ResolvedStoreSpec = Required<
  Omit<
    JobStoreSpec,
    'ttlMs' | 'maxRecordBytes' | 'writeBatchSize' | 'expectedKeys' | 'snapshotMs' | 'cacheSize' | 'cacheBytes'
  >
> &
  JobStoreSpec;

/** Default serdes: UTF-8 string keys, JSON values (self-contained, so the runtime needs no store import). */
export const defaultKeyCodec: Codec<unknown> = {
  encode: (v) => Buffer.from(String(v), 'utf8'),
  decode: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'),
};
export const defaultValueCodec: Codec<unknown> = {
  encode: (v) => Buffer.from(JSON.stringify(v), 'utf8'),
  decode: (b) => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')),
};

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,200}$/;
const NAME_RULE = '1-200 characters of A-Z a-z 0-9 . _ -';

const topicName = Type.String({ pattern: TOPIC_NAME.source, expected: `a topic name (${NAME_RULE})` });
const stream = Type.Union(
  [
    topicName,
    Type.Object(
      { topic: topicName, key: Type.Optional(CodecSchema()), value: Type.Optional(CodecSchema()) },
      { additionalProperties: false },
    ),
  ],
  { expected: `a topic name (${NAME_RULE}) or { topic, key?, value? }` },
);
const ms = (what: string) =>
  Type.Integer({
    minimum: 1,
    maximum: 2_147_483_647,
    expected: `a positive integer of milliseconds (${what})`,
  });

/** The schema of `defineJob`'s input (checked once, when the job is defined). */
export const JOB_SCHEMA = compile(
  Type.Object(
    {
      name: Type.String({
        pattern: TOPIC_NAME.source,
        expected: `${NAME_RULE} (it names topics and directories)`,
      }),
      inputs: Type.Array(stream, {
        minItems: 1,
        expected: 'an array of at least one input topic (names or { topic, key?, value? })',
      }),
      outputs: Type.Optional(
        Type.Array(stream, { expected: 'an array of topic names or { topic, key?, value? }' }),
      ),
      stores: Type.Optional(
        Type.Record(
          Type.String(),
          Type.Object(
            {
              key: CodecSchema(),
              value: CodecSchema({ expected: 'a serde ({ encode, decode }), e.g. serdes.json()' }),
              changelog: Type.Optional(Type.Boolean()),
              ...STORE_TUNING,
            },
            { additionalProperties: false },
          ),
        ),
      ),
      task: Type.Function([], Type.Any(), { expected: 'a function returning a StreamTask' }),
      commitMs: Type.Optional(ms('how often tasks commit')),
      lingerMs: Type.Optional(
        Type.Integer({ minimum: 0, maximum: 2_147_483_647, expected: 'an integer of milliseconds >= 0' }),
      ),
      windowMs: Type.Optional(ms('how often window() runs')),
      cacheBudgetBytes: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: Number.MAX_SAFE_INTEGER,
          expected: 'a whole number of bytes >= 0',
        }),
      ),
      exactlyOnce: Type.Optional(Type.Boolean()),
      onError: Type.Optional(
        Type.Union([Type.Literal('fail'), Type.Literal('skip'), Type.Literal('dead-letter')]),
      ),
      startFrom: Type.Optional(Type.Union([Type.Literal('earliest'), Type.Literal('latest')])),
      serdes: Type.Optional(
        Type.Object(
          { key: Type.Optional(CodecSchema()), value: Type.Optional(CodecSchema()) },
          { additionalProperties: false },
        ),
      ),
      partitions: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
      replicationFactor: Type.Optional(Type.Integer({ minimum: 1, maximum: 32_767 })),
      threads: Type.Optional(
        Type.Union([Type.Integer({ minimum: 1, maximum: 1024 }), Type.Literal('auto')], {
          expected: "a positive integer (1..1024) or 'auto'",
        }),
      ),
    },
    { additionalProperties: false },
  ),
);

function streams(list: readonly (string | StreamSpec)[], key: Codec<unknown>, value: Codec<unknown>) {
  return list.map((item) => {
    const spec = typeof item === 'string' ? { topic: item } : item;
    return { topic: spec.topic, key: spec.key ?? key, value: spec.value ?? value };
  });
}

/** Validates a job and fills in its defaults. Throws one `ConfigError` listing every problem. */
export function defineJob(input: JobInput): JobDefinition {
  if (typeof input !== 'object' || input === null) throw new ConfigError('job', ['expected an object']);
  const problems = JOB_SCHEMA.problems(input);
  const stores: Record<string, ResolvedStoreSpec> = {};
  for (const [name, spec] of Object.entries(input.stores ?? {})) {
    const at = `stores.${name}`;
    if (!TOPIC_NAME.test(name))
      problems.push(`${at}: store names are ${NAME_RULE} (got ${JSON.stringify(name)})`);
    if (typeof spec !== 'object' || spec === null) continue;
    const engine = spec.engine ?? 'lmdb';
    problems.push(...storeCombinationProblems(spec, cacheLimits(spec, engine), `${at}.`, engine));
    stores[name] = { ...spec, engine, changelog: spec.changelog ?? true };
  }
  if (input.lingerMs !== undefined && input.exactlyOnce === true) {
    problems.push(
      'lingerMs: has no effect with exactlyOnce (outputs are appended in the commit transaction); remove it, or lower commitMs',
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(`job${typeof input.name === 'string' ? ` "${input.name}"` : ''}`, problems);
  }
  const key = input.serdes?.key ?? defaultKeyCodec;
  const value = input.serdes?.value ?? defaultValueCodec;
  return Object.freeze({
    name: input.name,
    inputs: streams(input.inputs, key, value),
    outputs: streams(input.outputs ?? [], key, value),
    stores,
    task: input.task,
    commitMs: input.commitMs ?? (input.exactlyOnce === true ? 100 : 1000),
    lingerMs: input.exactlyOnce === true ? undefined : (input.lingerMs ?? 5),
    windowMs: input.windowMs,
    cacheBudgetBytes: input.cacheBudgetBytes,
    exactlyOnce: input.exactlyOnce ?? false,
    onError: input.onError ?? 'fail',
    startFrom: input.startFrom ?? 'earliest',
    partitions: input.partitions,
    replicationFactor: input.replicationFactor ?? 1,
    threads: input.threads,
    [JOB_MARK]: true as const,
  });
}

/** True for a value returned by `defineJob` (used when loading job files). */
export function isJobDefinition(value: unknown): value is JobDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[JOB_MARK] === true;
}

/** The changelog topic of a store: `<job>-<store>-changelog`, as in Samza. */
export function changelogTopic(job: string, store: string): string {
  return `${job}-${store}-changelog`;
}

/** The checkpoint topic of a job (one partition, compacted, keyed by task name). */
export function checkpointTopic(job: string): string {
  return `__eddy-${job}-checkpoints`;
}

/** The dead-letter topic of a job (`onError: 'dead-letter'`). */
export function deadLetterTopic(job: string): string {
  return `${job}-dead-letters`;
}
