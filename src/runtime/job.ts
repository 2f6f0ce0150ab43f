/**
 * A job's definition: `defineJob({...})` validates it once, fills in the defaults, and returns the
 * frozen `JobDefinition` that `eddy run`, the runtime and the test driver take.
 *
 * Every bad key is reported at once in one `ConfigError`, each line naming its key; unknown keys are
 * errors (a misspelt `comitMs` must not be silently ignored).
 */
import { ConfigError } from '../util/errors.js';
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
  /** Entries the store's cache holds (default 10,000; 0 with the memory engine, see `StoreOptions`). */
  cacheSize?: number;
  /**
   * Dirty entries that force a write to the engine before the next commit (default: cacheSize, so
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
}

const JOB_MARK: unique symbol = Symbol.for('eddy.job') as never;

export interface JobDefinition
  extends Readonly<
    Required<
      Omit<JobInput, 'windowMs' | 'partitions' | 'serdes' | 'inputs' | 'outputs' | 'stores' | 'lingerMs'>
    >
  > {
  readonly windowMs: number | undefined;
  /** At-least-once linger of outputs; `undefined` for exactly-once jobs (outputs go out at commit). */
  readonly lingerMs: number | undefined;
  readonly partitions: number | undefined;
  readonly inputs: readonly Required<StreamSpec>[];
  readonly outputs: readonly Required<StreamSpec>[];
  readonly stores: Readonly<
    Record<
      string,
      Required<
        Omit<JobStoreSpec, 'ttlMs' | 'maxRecordBytes' | 'writeBatchSize' | 'expectedKeys' | 'snapshotMs'>
      > &
        JobStoreSpec
    >
  >;
  readonly [JOB_MARK]: true;
}

const KNOWN_KEYS = new Set<keyof JobInput>([
  'name',
  'inputs',
  'outputs',
  'stores',
  'task',
  'commitMs',
  'lingerMs',
  'windowMs',
  'exactlyOnce',
  'onError',
  'startFrom',
  'serdes',
  'partitions',
  'replicationFactor',
]);
const STORE_KEYS = new Set<keyof JobStoreSpec>([
  'engine',
  'key',
  'value',
  'cacheSize',
  'writeBatchSize',
  'changelog',
  'ttlMs',
  'maxRecordBytes',
  'expectedKeys',
  'snapshotMs',
]);

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

function isCodec(c: unknown): c is Codec<unknown> {
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof (c as Codec<unknown>).encode === 'function' &&
    typeof (c as Codec<unknown>).decode === 'function'
  );
}

function positiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function streams(
  where: string,
  list: unknown,
  problems: string[],
  key: Codec<unknown>,
  value: Codec<unknown>,
): Required<StreamSpec>[] {
  if (!Array.isArray(list)) {
    problems.push(`${where}: expected an array of topic names or { topic, key?, value? }`);
    return [];
  }
  return list.map((item, i) => {
    const spec: StreamSpec = typeof item === 'string' ? { topic: item } : (item as StreamSpec);
    if (typeof spec !== 'object' || spec === null || typeof spec.topic !== 'string') {
      problems.push(`${where}[${i}]: expected a topic name or { topic, key?, value? }`);
      return { topic: '', key, value };
    }
    if (!TOPIC_NAME.test(spec.topic)) {
      problems.push(`${where}[${i}]: topic "${spec.topic}" must be 1-200 characters of A-Z a-z 0-9 . _ -`);
    }
    if (spec.key !== undefined && !isCodec(spec.key)) problems.push(`${where}[${i}].key: not a serde`);
    if (spec.value !== undefined && !isCodec(spec.value)) problems.push(`${where}[${i}].value: not a serde`);
    return { topic: spec.topic, key: spec.key ?? key, value: spec.value ?? value };
  });
}

/** Validates a job and fills in its defaults. Throws one `ConfigError` listing every problem. */
export function defineJob(input: JobInput): JobDefinition {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null) throw new ConfigError('job', ['expected an object']);
  for (const k of Object.keys(input)) {
    if (!KNOWN_KEYS.has(k as keyof JobInput)) {
      problems.push(`${k}: unknown key (known: ${[...KNOWN_KEYS].join(', ')})`);
    }
  }
  if (typeof input.name !== 'string' || !TOPIC_NAME.test(input.name)) {
    problems.push('name: required, 1-200 characters of A-Z a-z 0-9 . _ - (it names topics and directories)');
  }
  if (typeof input.task !== 'function') problems.push('task: required, a function returning a StreamTask');
  const key = input.serdes?.key ?? defaultKeyCodec;
  const value = input.serdes?.value ?? defaultValueCodec;
  if (input.serdes?.key !== undefined && !isCodec(input.serdes.key)) problems.push('serdes.key: not a serde');
  if (input.serdes?.value !== undefined && !isCodec(input.serdes.value))
    problems.push('serdes.value: not a serde');
  const inputs = streams('inputs', input.inputs, problems, key, value);
  if (Array.isArray(input.inputs) && input.inputs.length === 0)
    problems.push('inputs: at least one input topic');
  const outputs = streams('outputs', input.outputs ?? [], problems, key, value);
  const commitMs = input.commitMs ?? (input.exactlyOnce === true ? 100 : 1000);
  if (!positiveInt(commitMs))
    problems.push(`commitMs: expected a positive integer of milliseconds, got ${commitMs}`);
  const lingerMs = input.exactlyOnce === true ? undefined : (input.lingerMs ?? 5);
  if (input.lingerMs !== undefined && input.exactlyOnce === true) {
    problems.push(
      'lingerMs: has no effect with exactlyOnce (outputs are appended in the commit transaction); remove it, or lower commitMs',
    );
  } else if (lingerMs !== undefined && !(Number.isInteger(lingerMs) && lingerMs >= 0)) {
    problems.push(`lingerMs: expected an integer of milliseconds >= 0, got ${lingerMs}`);
  }
  if (input.windowMs !== undefined && !positiveInt(input.windowMs)) {
    problems.push(`windowMs: expected a positive integer of milliseconds, got ${input.windowMs}`);
  }
  if (input.partitions !== undefined && !positiveInt(input.partitions)) {
    problems.push(`partitions: expected a positive integer, got ${input.partitions}`);
  }
  const replicationFactor = input.replicationFactor ?? 1;
  if (!positiveInt(replicationFactor)) problems.push(`replicationFactor: expected a positive integer`);
  const onError = input.onError ?? 'fail';
  if (!['fail', 'skip', 'dead-letter'].includes(onError)) {
    problems.push(`onError: expected 'fail', 'skip' or 'dead-letter', got ${JSON.stringify(onError)}`);
  }
  const startFrom = input.startFrom ?? 'earliest';
  if (!['earliest', 'latest'].includes(startFrom))
    problems.push(`startFrom: expected 'earliest' or 'latest'`);
  if (input.exactlyOnce !== undefined && typeof input.exactlyOnce !== 'boolean') {
    problems.push('exactlyOnce: expected true or false');
  }

  const stores: Record<
    string,
    Required<
      Omit<JobStoreSpec, 'ttlMs' | 'maxRecordBytes' | 'writeBatchSize' | 'expectedKeys' | 'snapshotMs'>
    > &
      JobStoreSpec
  > = {};
  for (const [name, spec] of Object.entries(input.stores ?? {})) {
    const at = `stores.${name}`;
    if (!TOPIC_NAME.test(name)) problems.push(`${at}: store names are 1-200 characters of A-Z a-z 0-9 . _ -`);
    if (typeof spec !== 'object' || spec === null) {
      problems.push(`${at}: expected { key, value, engine?, ... }`);
      continue;
    }
    for (const k of Object.keys(spec)) {
      if (!STORE_KEYS.has(k as keyof JobStoreSpec)) {
        problems.push(`${at}.${k}: unknown key (known: ${[...STORE_KEYS].join(', ')})`);
      }
    }
    if (!isCodec(spec.key)) problems.push(`${at}.key: required, a serde (e.g. serdes.string)`);
    if (!isCodec(spec.value)) problems.push(`${at}.value: required, a serde (e.g. serdes.json())`);
    const engine = spec.engine ?? 'lmdb';
    if (!['lmdb', 'memory', 'rocksdb'].includes(engine)) {
      problems.push(`${at}.engine: expected 'lmdb', 'memory' or 'rocksdb', got ${JSON.stringify(engine)}`);
    }
    const cacheSize = spec.cacheSize ?? (engine === 'memory' ? 0 : 10_000);
    if (!Number.isInteger(cacheSize) || cacheSize < 0)
      problems.push(`${at}.cacheSize: expected an integer >= 0`);
    if (spec.writeBatchSize !== undefined && !positiveInt(spec.writeBatchSize)) {
      problems.push(`${at}.writeBatchSize: expected a positive integer`);
    } else if (spec.writeBatchSize !== undefined && cacheSize === 0) {
      problems.push(`${at}.writeBatchSize: has no effect with cacheSize 0 (no cache); remove one of them`);
    } else if (spec.writeBatchSize !== undefined && spec.writeBatchSize > cacheSize) {
      problems.push(`${at}.writeBatchSize: ${spec.writeBatchSize} is more than cacheSize ${cacheSize}`);
    }
    if (spec.ttlMs !== undefined && !positiveInt(spec.ttlMs))
      problems.push(`${at}.ttlMs: expected a positive integer`);
    if (spec.maxRecordBytes !== undefined && !positiveInt(spec.maxRecordBytes)) {
      problems.push(`${at}.maxRecordBytes: expected a positive integer`);
    }
    if (spec.expectedKeys !== undefined && !(Number.isInteger(spec.expectedKeys) && spec.expectedKeys >= 0)) {
      problems.push(`${at}.expectedKeys: expected an integer >= 0`);
    }
    if (spec.snapshotMs !== undefined && spec.snapshotMs !== false) {
      if (!(Number.isInteger(spec.snapshotMs) && spec.snapshotMs >= 0)) {
        problems.push(`${at}.snapshotMs: expected an integer of ms >= 0, or false`);
      }
    }
    for (const k of ['expectedKeys', 'snapshotMs'] as const) {
      if (spec[k] !== undefined && engine !== 'memory') {
        problems.push(`${at}.${k}: only the memory engine takes it (this store's engine is ${engine})`);
      }
    }
    stores[name] = { ...spec, engine, cacheSize, changelog: spec.changelog ?? true };
  }
  if (problems.length > 0) {
    throw new ConfigError(`job${typeof input.name === 'string' ? ` "${input.name}"` : ''}`, problems);
  }
  return Object.freeze({
    name: input.name,
    inputs,
    outputs,
    stores,
    task: input.task,
    commitMs,
    lingerMs,
    windowMs: input.windowMs,
    exactlyOnce: input.exactlyOnce ?? false,
    onError,
    startFrom,
    partitions: input.partitions,
    replicationFactor,
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
