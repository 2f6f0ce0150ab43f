/**
 * What a user's task sees: the `StreamTask` it implements, and the context, envelope, collector and
 * coordinator the runtime hands it. Same shapes as Samza's `StreamTask` API.
 *
 * Promises the runtime keeps:
 * - Task p receives only messages of partition p of the job's inputs, in offset order per input
 *   partition, one call at a time (an async `process` is awaited before the next message of the
 *   same task).
 * - Store reads and writes inside `process` are synchronous and see the task's own earlier writes.
 * - Messages sent with `out.send` and store writes become visible to the outside at commit, together
 *   with the input offsets (all of them or none with `exactlyOnce`).
 */
import type { KeyValueStore } from '../store/types.js';

/** A message delivered to a task, its key and value decoded with the input's serdes. */
export interface IncomingEnvelope<K = unknown, V = unknown> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: K;
  readonly value: V;
  readonly headers: Readonly<Record<string, Buffer>>;
  /** The raw bytes as read from the log. */
  readonly rawKey: Buffer | null;
  readonly rawValue: Buffer | null;
}

/** A message to send to an output topic. */
export interface OutgoingMessage<K = unknown, V = unknown> {
  topic: string;
  key?: K | null;
  /** `null` sends a tombstone. */
  value: V | null;
  /** Defaults to Kafka's partitioner over the encoded key (round-robin without a key). */
  partition?: number;
  headers?: Record<string, Buffer>;
  timestamp?: number;
}

export interface MessageCollector {
  /** Buffers the message; it is appended to its topic before the next commit completes. */
  send<K = unknown, V = unknown>(message: OutgoingMessage<K, V>): void;
}

export interface TaskCoordinator {
  /** Asks for a commit after the current message (Samza's `coordinator.commit(CURRENT_TASK)`). */
  commit(): void;
  /** Asks the container to commit and stop after the current message. */
  shutdown(): void;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Counters a task can bump; they appear in the job's metrics as `task.<name>`. */
export interface TaskMetrics {
  counter(name: string): { inc(by?: number): void; readonly value: number };
}

export interface TaskContext {
  readonly jobName: string;
  /** The partition number this task owns. */
  readonly partition: number;
  /** The task's name, `Partition <p>` as in Samza. */
  readonly taskName: string;
  /** The task's partition of a store declared in the job. Throws `JobError` for an unknown name. */
  store<K = unknown, V = unknown>(name: string): KeyValueStore<K, V>;
  readonly metrics: TaskMetrics;
  readonly logger: Logger;
}

/** The user's processing logic. One instance per task (per partition). */
export interface StreamTask {
  init?(ctx: TaskContext): void | Promise<void>;
  process(envelope: IncomingEnvelope, out: MessageCollector, coord: TaskCoordinator): void | Promise<void>;
  /** Called every `windowMs` (if set), between messages. */
  window?(out: MessageCollector, coord: TaskCoordinator): void | Promise<void>;
  close?(): void | Promise<void>;
}
