/**
 * Eddy's errors: one list of stable codes, one base class, one subclass per kind.
 *
 * Every error Eddy throws on purpose is an {@link EddyError}: `code` is stable (test and branch on
 * it, never on the message), `retriable` says whether trying the same call again can help, and
 * `cause` keeps the underlying error. Messages name the store, topic, partition, offset, key or
 * option involved, and say what to do about it.
 */

export const ERROR_CODES = [
  'EDDY_INVALID_ARGUMENT',
  'EDDY_INVALID_CONFIG',
  'EDDY_INVALID_KEY',
  'EDDY_INVALID_VALUE',
  'EDDY_SERDE',
  'EDDY_RECORD_TOO_LARGE',
  'EDDY_STORE_CLOSED',
  'EDDY_ITERATOR_CLOSED',
  'EDDY_ENGINE',
  'EDDY_LOG_CLOSED',
  'EDDY_UNKNOWN_TOPIC',
  'EDDY_TOPIC_EXISTS',
  'EDDY_TOPIC_MISMATCH',
  'EDDY_UNKNOWN_PARTITION',
  'EDDY_OFFSET_OUT_OF_RANGE',
  'EDDY_CORRUPT_LOG',
  'EDDY_LOCKED',
  'EDDY_CHECKPOINT',
  'EDDY_TASK_FAILED',
  'EDDY_THREAD_FAILED',
  'EDDY_JOB',
  'EDDY_KAFKA',
  'EDDY_FENCED',
  'EDDY_TIMEOUT',
  'EDDY_ABORTED',
  'EDDY_UNKNOWN_STORE',
  'EDDY_UNAVAILABLE',
  'EDDY_CONTROL',
  'EDDY_RESOURCE_LIMIT',
  'EDDY_UNAUTHORIZED',
  'EDDY_NOT_FOUND',
  'EDDY_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface EddyErrorOptions {
  cause?: unknown;
  retriable?: boolean;
}

/** Base class of every error Eddy throws on purpose. */
export class EddyError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: EddyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.name = new.target.name;
  }
}

/** A call got an argument it cannot use (a bad offset, a negative count, a missing name). */
export class InvalidArgumentError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_INVALID_ARGUMENT', message, options);
  }
}

/** One or more configuration keys are unknown, of the wrong type, or impossible together. */
export class ConfigError extends EddyError {
  /** Every problem found, one line each, each naming its key. */
  readonly problems: readonly string[];
  constructor(where: string, problems: readonly string[], options?: EddyErrorOptions) {
    super('EDDY_INVALID_CONFIG', `invalid ${where}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.problems = problems;
  }
}

/** A key is undefined, null, or of a type the key serde does not accept. */
export class InvalidKeyError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_INVALID_KEY', message, options);
  }
}

/** A value is undefined or null where a value is required (use delete to remove a key). */
export class InvalidValueError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_INVALID_VALUE', message, options);
  }
}

/** A serde could not encode or decode a key or value. */
export class SerdeError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_SERDE', message, options);
  }
}

/** A record is larger than the configured maximum; nothing was written. */
export class RecordTooLargeError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_RECORD_TOO_LARGE', message, options);
  }
}

/** A store was used after `close()`. */
export class StoreClosedError extends EddyError {
  constructor(store: string) {
    super('EDDY_STORE_CLOSED', `store "${store}" is closed; open it again to use it`);
  }
}

/** An iterator was used after it was closed, or after its store was closed. */
export class IteratorClosedError extends EddyError {
  constructor(store: string) {
    super('EDDY_ITERATOR_CLOSED', `an iterator of store "${store}" was used after it was closed`);
  }
}

/** The storage engine (LMDB, RocksDB) failed. */
export class EngineError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_ENGINE', message, options);
  }
}

/** A log was used after `close()`. */
export class LogClosedError extends EddyError {
  constructor(what: string) {
    super('EDDY_LOG_CLOSED', `${what} is closed; open it again to use it`);
  }
}

/** A topic does not exist. */
export class UnknownTopicError extends EddyError {
  constructor(topic: string) {
    super('EDDY_UNKNOWN_TOPIC', `topic "${topic}" does not exist; create it first (eddy topics create)`);
  }
}

/** A topic that was to be created exists already. */
export class TopicExistsError extends EddyError {
  constructor(topic: string) {
    super('EDDY_TOPIC_EXISTS', `topic "${topic}" exists already`);
  }
}

/** An existing topic's partition count or cleanup policy is not what the job needs. */
export class TopicMismatchError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_TOPIC_MISMATCH', message, options);
  }
}

/** A partition number is outside the topic's partitions. */
export class UnknownPartitionError extends EddyError {
  constructor(topic: string, partition: number, partitions: number) {
    super(
      'EDDY_UNKNOWN_PARTITION',
      `topic "${topic}" has partitions 0..${partitions - 1}; partition ${partition} does not exist`,
    );
  }
}

/** An offset is below the earliest or above the end offset of a partition. */
export class OffsetOutOfRangeError extends EddyError {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly earliest: number,
    readonly end: number,
  ) {
    super(
      'EDDY_OFFSET_OUT_OF_RANGE',
      `offset ${offset} is out of range for ${topic}/${partition} (earliest ${earliest}, end ${end})`,
    );
  }
}

/** Where on disk a `CorruptLogError` found damage (the fields known there). */
export interface CorruptLogLocation {
  readonly file: string;
  /** Byte position of the damaged batch in `file`. */
  readonly position: number;
  /** The first offset of the damaged batch: records before it are readable. */
  readonly offset: number;
  readonly topic?: string;
  readonly partition?: number;
}

/** On-disk log data failed its checks somewhere other than the tail. */
export class CorruptLogError extends EddyError {
  /** Where the damage is, when the log knows it. */
  readonly at: CorruptLogLocation | undefined;
  constructor(message: string, options?: EddyErrorOptions & { at?: CorruptLogLocation }) {
    super('EDDY_CORRUPT_LOG', message, options);
    this.at = options?.at;
  }
}

/** The process ran out of a system resource (file descriptors); the message says which limit to raise. */
export class ResourceLimitError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_RESOURCE_LIMIT', message, { retriable: true, ...options });
  }
}

/** A data directory is held by another process. */
export class LockedError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_LOCKED', message, options);
  }
}

/** A checkpoint could not be read or written. */
export class CheckpointError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_CHECKPOINT', message, options);
  }
}

/** A task threw, or a message could not be processed, under the `fail` policy. */
export class TaskFailedError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_TASK_FAILED', message, options);
  }
}

/** A job definition or job file is unusable. */
export class JobError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_JOB', message, options);
  }
}

/**
 * A task thread died (an uncaught error, `process.exit`, or its job module failed to load in it):
 * the job stops with nothing committed after it. A `JobError` of code `EDDY_THREAD_FAILED`.
 */
export class ThreadFailedError extends JobError {
  constructor(message: string, options?: EddyErrorOptions) {
    super(message, options);
    (this as { code: ErrorCode }).code = 'EDDY_THREAD_FAILED';
  }
}

/** The Kafka cluster refused or failed a request. */
export class KafkaError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_KAFKA', message, options);
  }
}

/**
 * Another writer took over this writer's transactional identity (Kafka: a newer producer with the
 * same `transactional.id`, e.g. the new owner of a task after a rebalance). The fenced writer's open
 * transaction is aborted and it can commit nothing more: it must stop writing for that identity.
 */
export class FencedError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_FENCED', message, { ...options, retriable: false });
  }
}

/** An operation did not complete in time. */
export class TimeoutError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_TIMEOUT', message, { retriable: true, ...options });
  }
}

/** An operation was aborted through its AbortSignal. */
export class AbortedError extends EddyError {
  constructor(message = 'the operation was aborted') {
    super('EDDY_ABORTED', message);
  }
}

/** An HTTP request without the bearer token the server needs (`--http-token`), or with another. */
export class UnauthorizedError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_UNAUTHORIZED', message, options);
  }
}

/** An HTTP path, or a thing it names, does not exist. */
export class NotFoundError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_NOT_FOUND', message, options);
  }
}

/** A job has no store of that name (interactive queries, `eddy store` against a running job). */
export class UnknownStoreError extends EddyError {
  constructor(store: string, known: readonly string[]) {
    super(
      'EDDY_UNKNOWN_STORE',
      `store "${store}" does not exist in this job; its stores: ${known.length > 0 ? known.join(', ') : '(none)'}`,
    );
  }
}

/**
 * The answer cannot be given now, but may be soon: the job is shutting down, or the store's
 * partition is not open yet, or its owner cannot be reached. Retriable.
 */
export class UnavailableError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_UNAVAILABLE', message, { retriable: true, ...options });
  }
}

/** The control socket of a running job failed: unreachable, closed midway, or a bad frame. */
export class ControlError extends EddyError {
  constructor(message: string, options?: EddyErrorOptions) {
    super('EDDY_CONTROL', message, options);
  }
}

/** True when `err` is an Eddy error with the given code. */
export function isEddyError(err: unknown, code?: ErrorCode): err is EddyError {
  return err instanceof EddyError && (code === undefined || err.code === code);
}
