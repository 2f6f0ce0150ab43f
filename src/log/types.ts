/**
 * The partitioned log ("system" in Samza's words): the one interface that the embedded, memory and
 * Kafka backends implement, and that the runtime and the command line use.
 *
 * Contract, for every backend:
 * - A topic has `partitions` partitions numbered from 0; each is an ordered log whose offsets start
 *   at 0 and grow by one per record. Compaction and retention remove records but never renumber:
 *   readers skip the gaps. Kafka's transaction markers (commit/abort) also take an offset each, and
 *   Kafka keeps an aborted transaction's offsets: after a transaction the end offset may exceed the
 *   last readable record's offset + 1, and offsets are never reused there (the embedded and memory
 *   logs have no markers and reuse an aborted transaction's offsets). Readers go by the offsets
 *   records carry, never by counting.
 * - `append` assigns consecutive offsets to its records, in order, and resolves with them. Records
 *   are readable once `append` resolves. They are durable (survive a crash of the process, and with
 *   fsync a crash of the machine) at the latest when a later `flush()` resolves; see each backend's
 *   durability policy.
 * - A record's `value` of `null` is a tombstone: in a compacted topic it deletes its key.
 * - Every method rejects with a typed {@link EddyError}: `UnknownTopicError`,
 *   `UnknownPartitionError`, `OffsetOutOfRangeError`, `LogClosedError`, … Nothing is dropped
 *   silently.
 * - `close()` is idempotent; after it every call rejects with `LogClosedError`.
 */

import type { RecordBuffer, RecordFormat } from './record-buffer.js';

/** Record headers: name to bytes. (Kafka allows a name twice; the last one wins here.) */
export type RecordHeaders = Readonly<Record<string, Buffer>>;

/** A record read from a partition. */
export interface LogRecord {
  readonly offset: number;
  /** Milliseconds since the epoch: the producer's timestamp, or the append time when none was given. */
  readonly timestamp: number;
  readonly key: Buffer | null;
  /** `null` is a tombstone. */
  readonly value: Buffer | null;
  readonly headers: RecordHeaders;
}

/**
 * Records as byte spans of one shared buffer, with no object per record: what a restore reads
 * (`Log.readSpans`). Record i (`0 <= i < count`) has offset `offsets[i]`, its key is
 * `buf[keyStart[i], keyStart[i] + keyLength[i])` (`keyLength[i]` -1: no key) and its value
 * `buf[valueStart[i], valueStart[i] + valueLength[i])` (`valueLength[i]` -1: a tombstone). Offsets
 * grow with i. Timestamps and headers are not carried. The arrays may be longer than `count`. The
 * bytes are the reader's: valid as long as the object is referenced, never written to by the log.
 */
export interface RecordSpans {
  readonly buf: Buffer;
  readonly count: number;
  readonly offsets: Float64Array;
  readonly keyStart: Int32Array;
  readonly keyLength: Int32Array;
  readonly valueStart: Int32Array;
  readonly valueLength: Int32Array;
}

/**
 * Whole record batches in the embedded log's layout (`embedded/record-batch.ts`), CRC-checked and
 * copied into one buffer of their own (transferable to another thread), or into the caller's
 * `into` (`BatchReadOptions`) when they fit there: what `Log.readBatches` returns. They hold the
 * records a `read` at `from` returns, and may hold more (before `from` in the first batch; the
 * budget counts whole batches, at least one); `decodeBatches` and `BatchDecoder` take the records
 * at offsets in [`from`, `until`) (`until`: the visible end when they were read).
 */
export interface RecordBatches {
  /** A buffer of their own, or `into`'s (a `SharedArrayBuffer`'s, say) when they were copied there. */
  readonly buffer: ArrayBufferLike;
  /** Where they start in `buffer` (default 0; `into`'s offset when they were copied there). */
  readonly byteOffset?: number;
  readonly length: number;
  readonly from: number;
  readonly until: number;
}
/** A record to append. */
export interface AppendRecord {
  key?: Buffer | null;
  /** `null` writes a tombstone. */
  value: Buffer | null;
  headers?: RecordHeaders;
  /** Defaults to the time of the append. */
  timestamp?: number;
}

/** What `append` assigned: offsets `baseOffset` … `nextOffset - 1`. */
export interface AppendResult {
  readonly baseOffset: number;
  /** The offset the next record will get (the partition's end offset after this append). */
  readonly nextOffset: number;
}

export type CleanupPolicy = 'delete' | 'compact';

/** A topic's settings; every field but `partitions` has a default (see `TOPIC_DEFAULTS`). */
export interface TopicConfig {
  /** Number of partitions, at least 1. */
  partitions: number;
  /** `delete`: retention by time and size. `compact`: keep the latest record per key. */
  cleanup: CleanupPolicy;
  /** Delete-topics: records older than this are removed, segment by segment. -1 keeps them forever. */
  retentionMs: number;
  /** Delete-topics: the oldest segments are removed while a partition is larger than this. -1: no limit. */
  retentionBytes: number;
  /** A segment file is rolled when it reaches this size. */
  segmentBytes: number;
  /** Compact-topics: how long a tombstone stays readable after it was written before compaction drops it. */
  deleteRetentionMs: number;
  /** Kafka only: replicas per partition. The embedded and memory logs ignore it. */
  replicationFactor: number;
  /**
   * The largest record an append takes: its key, value and header (name and value) bytes. A larger
   * one fails the append with `RecordTooLargeError` and nothing of the append is written. Like
   * Kafka's `max.message.bytes` (default 1 MiB); on Kafka it is that setting (plus Kafka's 12 bytes
   * of batch overhead).
   */
  maxRecordBytes: number;
}

export const TOPIC_DEFAULTS: Omit<TopicConfig, 'partitions'> = {
  cleanup: 'delete',
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  segmentBytes: 64 * 1024 * 1024,
  deleteRetentionMs: 24 * 3600 * 1000,
  replicationFactor: 1,
  maxRecordBytes: 1024 * 1024,
};

/** What `createTopic` and `ensureTopic` take: `partitions` and any settings to change. */
export type TopicConfigInput = Pick<TopicConfig, 'partitions'> & Partial<Omit<TopicConfig, 'partitions'>>;

export interface PartitionInfo {
  readonly partition: number;
  /** The lowest offset still readable (0 until retention removes records). */
  readonly earliestOffset: number;
  /** The offset the next appended record will get. */
  readonly endOffset: number;
}

export interface TopicInfo {
  readonly name: string;
  readonly config: Readonly<TopicConfig>;
  readonly partitions: readonly PartitionInfo[];
}

export interface ReadOptions {
  /** At most this many records (default 1000). */
  maxRecords?: number;
  /**
   * About this many bytes at most (default 1 MiB). At least one record is always returned when one
   * exists at the offset, however large.
   */
  maxBytes?: number;
}

/** Options of `Log.readBatches`. */
export interface BatchReadOptions extends ReadOptions {
  /**
   * Copy the batches here when they fit (a slot of a buffer shared with the reader's thread: no
   * buffer is allocated per read); else they get a buffer of their own, as without it.
   */
  into?: Uint8Array;
}

/**
 * One repair (or finding) made when a log was opened, for operators and metrics
 * (`Log.recoveries()`; the embedded log also calls its `onRecovery` option with each as it happens):
 * - `torn-tail`: the partition's last write was cut short (a crash mid-write); cut off.
 * - `corrupt-tail`: the last batch(es) failed their checksum with nothing valid after them; cut off.
 * - `corrupt-middle`: a damaged batch with valid data after it; nothing cut, reads stop before it
 *   and appends are refused until the partition is truncated at `fromOffset` (or before).
 * - `uncommitted-transaction`: records of a transaction that never committed; rolled back (they
 *   were never visible).
 */
export interface LogRecovery {
  readonly topic: string;
  readonly partition: number;
  readonly reason: 'torn-tail' | 'corrupt-tail' | 'corrupt-middle' | 'uncommitted-transaction';
  /** The segment file of the cut or damage. */
  readonly segment: string;
  /** Byte position of the cut or damage in `segment`. */
  readonly position: number;
  /** The first offset lost (or unreadable). */
  readonly fromOffset: number;
  /** One past the last offset lost, when known (`[fromOffset, toOffset)`). */
  readonly toOffset?: number;
  /** Bytes cut off (or unreadable). */
  readonly bytes: number;
}

/** What a backend can do beyond the common contract; tests and the runtime branch on these. */
export interface LogSupports {
  /** `truncate()` exists: a partition can be cut back to an offset (embedded and memory logs). */
  readonly truncate: boolean;
  /** `beginTransaction()` exists: appends to many partitions commit or vanish together. */
  readonly transactions: boolean;
  /** Data survives `close()` and a crash of the process. */
  readonly persistent: boolean;
}

/**
 * Appends to many partitions that become visible together on `commit()`, or never (after `abort()`
 * or a crash before `commit()` resolved). Readers never see a record of a transaction that was not
 * committed.
 */
export interface LogTransaction {
  /**
   * Appends within the transaction; the offsets are final if the transaction commits. Backends may
   * reject plain `Log.append`s to a partition the open transaction wrote (the embedded and memory
   * logs do, with `InvalidArgumentError`).
   */
  append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult>;
  /** `append` of a `RecordBuffer` whose records are encoded already (see `Log.appendBuffer`). */
  appendBuffer?(topic: string, partition: number, records: RecordBuffer): Promise<AppendResult>;
  /** Makes every append of the transaction visible and durable, atomically. */
  commit(): Promise<void>;
  /** Discards every append of the transaction. */
  abort(): Promise<void>;
}

export interface TransactionOptions {
  /**
   * The writer's transactional identity (Kafka: the producer's `transactional.id`; default: the
   * log's own). A newer writer that claims the same id fences the older one: its transactions fail
   * with `FencedError` from then on, and what it left open is aborted.
   */
  id?: string;
}

/** The partitioned log. */
export interface Log {
  readonly backend: 'embedded' | 'memory' | 'kafka';
  readonly supports: LogSupports;

  /** Creates a topic; rejects with `TopicExistsError` if it exists. */
  createTopic(name: string, config: TopicConfigInput): Promise<TopicInfo>;
  /**
   * Creates the topic if it does not exist; if it exists, checks that its partition count and
   * cleanup policy are the ones asked for and rejects with `TopicMismatchError` if not.
   */
  ensureTopic(name: string, config: TopicConfigInput): Promise<TopicInfo>;
  deleteTopic(name: string): Promise<void>;
  listTopics(): Promise<string[]>;
  describeTopic(name: string): Promise<TopicInfo>;

  /** Appends records to one partition; resolves with their offsets. An empty array is allowed. */
  append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult>;

  /**
   * `append` of the records of a `RecordBuffer` made with `encode: true`: they are in this log's
   * batch layout already, so the append writes the batch header and checksum and nothing else per
   * record. Optional (the embedded log has it); callers use `appendBuffered`, which falls back to
   * `append`. The buffer must not change until the promise settles.
   */
  appendBuffer?(topic: string, partition: number, records: RecordBuffer): Promise<AppendResult>;
  /**
   * The layout `appendBuffer` takes (`RecordBuffer`'s `format`): `kafka` for the Kafka log, else
   * (undefined) the embedded log's. Writers make their buffers with it.
   */
  readonly bufferFormat?: RecordFormat;

  /**
   * Reads records at offsets >= `offset`, in offset order, within the budget of `options`.
   * `offset` equal to the end offset yields `[]`; below the earliest or above the end offset rejects
   * with `OffsetOutOfRangeError`. Records removed by compaction are skipped.
   */
  read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<LogRecord[]>;

  /**
   * `read` in the form of byte spans (see {@link RecordSpans}): the same records, offsets and budget,
   * as a few blocks (empty: none at `offset`, the end). Optional: a backend that decodes batches
   * straight from its buffers has it (Kafka); callers fall back to `read`.
   */
  readSpans?(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<RecordSpans[]>;
  /**
   * `read` as whole batches, undecoded (see {@link RecordBatches}): for a reader in another thread,
   * which decodes them itself. Optional (the embedded log has it); the same errors as `read`.
   */
  readBatches?(
    topic: string,
    partition: number,
    offset: number,
    options?: BatchReadOptions,
  ): Promise<RecordBatches>;

  earliestOffset(topic: string, partition: number): Promise<number>;
  endOffset(topic: string, partition: number): Promise<number>;

  /**
   * Resolves `true` as soon as the partition's end offset is above `offset` (a record at `offset`
   * or later can be read), `false` after `timeoutMs` or when `signal` aborts. No busy loop.
   */
  waitForData(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean>;

  /** Removes every record at offsets >= `offset` (only when `supports.truncate`). */
  truncate?(topic: string, partition: number, offset: number): Promise<void>;

  /**
   * Keeps this log's compaction of the partition from using records at offsets >= `offset`: a
   * pass maps and cleans only the segments wholly below it, so no record is ever dropped because
   * of a newer one at or past `offset`. A job holds each changelog partition at the end of what its
   * last durable checkpoint covers: a changelog tail written after that checkpoint (at-least-once,
   * a crash between a store's flush and its checkpoint) can then never compact away a record the
   * store is restored to. A hold may move back. Optional: the embedded log has it (its cleaner
   * runs in the job's process) and keeps it in the partition's directory, so it also holds after a
   * crash; Kafka's brokers compact on their own.
   */
  holdCompaction?(topic: string, partition: number, offset: number): Promise<void>;

  /**
   * Starts a transaction (only when `supports.transactions`). The embedded and memory logs have one
   * writer and one open transaction at a time, and ignore `options.id`; Kafka has one open
   * transaction per transactional id (see {@link TransactionOptions}).
   */
  beginTransaction?(options?: TransactionOptions): Promise<LogTransaction>;

  /**
   * What opening the log repaired or found damaged (see {@link LogRecovery}), in the order found;
   * empty after a clean shutdown. Backends without local files (Kafka, memory) do not have it.
   */
  recoveries?(): readonly LogRecovery[];

  /** Resolves when every append that resolved before the call is durable. */
  flush(): Promise<void>;
  /** Flushes and releases files, locks, sockets and timers. Idempotent. */
  close(): Promise<void>;
}
