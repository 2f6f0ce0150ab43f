/**
 * The public shapes of the test driver (`eddy/testing`): its options, the messages fed to it and
 * read from it, and its metrics.
 */

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
  /** Stores with `ttlMs`: when the written value expires (ms). */
  expiresAt?: number;
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
