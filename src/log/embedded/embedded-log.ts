/**
 * The embedded log: Eddy's zero-setup default `Log`, an on-disk partitioned log in one directory
 * (a tiny Kafka). Layout: `<dir>/LOCK` (see `util/dir-lock.ts`), `<dir>/topics/…` (see `topics.ts`),
 * segments per partition (see `partition.ts`, `segment.ts`, `record-batch.ts`), and
 * `<dir>/transaction.json` while a transaction is open (see `transaction.ts`).
 *
 * Durability policies (`fsync`):
 *
 * | policy   | an append is durable (survives a machine crash)         | cost                        |
 * |----------|---------------------------------------------------------|-----------------------------|
 * | `always` | when its `append` resolves (fdatasync, group-committed) | one fsync per append burst  |
 * | `commit` | when a later `flush()` resolves (the default)           | one fsync per touched file  |
 * | `os`     | whenever the OS writes it back (never fsynced)          | none                        |
 *
 * Under every policy a crash of the PROCESS loses nothing whose `append` resolved: each append is
 * one `write` syscall into the page cache before it resolves. A torn tail (a write cut by a machine
 * crash) is cut off on open and reported (`onRecovery`, {@link EmbeddedLog.recoveries},
 * {@link EmbeddedLog.recoveryReport}); damage before the tail is reported too, and reads that reach
 * it throw a `CorruptLogError` naming it (see segment.ts, partition.ts).
 *
 * Read-only (`readOnly: true`): for a second process that follows a log another one writes (`eddy
 * consume --follow` next to a running job). No lock, no recovery; every call first picks up what
 * the writer changed on disk (topics, appends, rolls, swaps, the open transaction's limit);
 * `waitForData` polls (`follow-poll.ts`); every write rejects with `InvalidArgumentError`.
 *
 * Concurrency: one process writes a directory (`LockedError` for a second). Appends, reads and
 * truncations run synchronously on page-cached files inside the call (no interleaving); only fsyncs
 * are asynchronous.
 *
 * File descriptors: segment files are opened on demand and the least recently used closed beyond
 * the cap of a {@link FilePool} (`file-pool.ts`; by default one pool per thread, 256 descriptors),
 * so the number of partitions is not bounded by `ulimit -n`.
 */
import { mkdirSync } from 'node:fs';
import { DirLock } from '../../util/dir-lock.js';
import {
  AbortedError,
  InvalidArgumentError,
  LogClosedError,
  TopicExistsError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../../util/errors.js';
import type { RecordBuffer } from '../record-buffer.js';
import { checkTopicMatch, checkTopicName, resolveTopicConfig } from '../topic-config.js';
import type {
  AppendRecord,
  AppendResult,
  BatchReadOptions,
  Log,
  LogRecord,
  LogRecovery,
  LogSupports,
  LogTransaction,
  ReadOptions,
  RecordBatches,
  TopicConfig,
  TopicConfigInput,
  TopicInfo,
} from '../types.js';
import type { PartitionCleaner } from './cleaner.js';
import { exclusive, holdCompaction as holdPartitionCompaction } from './compactor.js';
import { createDefaultCleaner } from './default-cleaner.js';
import { type FilePool, sharedFilePool } from './file-pool.js';
import { pollUntil } from './follow-poll.js';
import { refreshTopic, refreshTopics, refreshTransactionLimits } from './follower.js';
import { Partition, type PartitionOptions, syncPartitions } from './partition.js';
import {
  EMPTY_RECOVERY_REPORT,
  type OpenTopic,
  openAndRecoverTopics,
  type RecoveryReport,
  rollBackPendingTransaction,
} from './recovery.js';
import { TopicStore } from './topics.js';
import { EmbeddedTransaction } from './transaction.js';

export type FsyncPolicy = 'always' | 'commit' | 'os';
export type { RecoveryReport } from './recovery.js';

export interface EmbeddedLogOptions {
  /** The data directory (created if missing). */
  dir: string;
  /** Durability policy (see the table above); default `commit`. */
  fsync?: FsyncPolicy;
  /** Runs compaction and retention; default `createDefaultCleaner()` (compactor.ts, retention.ts); `null`: none. */
  cleaner?: PartitionCleaner | null;
  /** How often every partition is offered to the cleaner; default 60 000 ms. */
  cleanupIntervalMs?: number;
  /** Where cleaner errors go; default `process.emitWarning`. */
  onCleanerError?: (err: unknown, topic: string, partition: number) => void;
  /** Open for reading only, without the lock, following a log another process writes. */
  readOnly?: boolean;
  /** Read-only logs: how often `waitForData` looks at the files; default 100 ms. */
  followPollMs?: number;
  /** The clock for record timestamps (tests); default `Date.now`. */
  now?: () => number;
  /**
   * Called with each repair or damage found while opening (see `LogRecovery`), as it happens — also
   * when opening fails afterwards. The command line prints them; `recoveries()` keeps them.
   */
  onRecovery?: (recovery: LogRecovery) => void;
  /** Where segment files get their descriptors (a cap on open files); default one pool per thread. */
  filePool?: FilePool;
}

const SUPPORTS: LogSupports = { truncate: true, transactions: true, persistent: true };

/** Opens (creating if needed), locks and recovers the embedded log in `options.dir`. */
export async function openEmbeddedLog(options: EmbeddedLogOptions): Promise<EmbeddedLog> {
  const log = EmbeddedLog.open(options);
  if (options.readOnly === true) return log;
  try {
    await log.abortPendingTransaction();
  } catch (err) {
    await log.close().catch(() => {});
    throw err;
  }
  return log;
}

export class EmbeddedLog implements Log {
  readonly backend = 'embedded' as const;
  readonly supports = SUPPORTS;
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly readOnly: boolean;
  recoveryReport!: RecoveryReport;
  private readonly recovered: LogRecovery[] = [];
  private readonly durable: boolean;
  private readonly topics = new Map<string, OpenTopic>();
  private readonly store: TopicStore;
  private readonly now: () => number;
  private lock: DirLock | null;
  private txn: EmbeddedTransaction | null = null;
  private closing: Promise<void> | null = null;
  /** Aborted by `close()`: ends read-only followers' polls. */
  private readonly closeController = new AbortController();
  private cleanupTimer: NodeJS.Timeout | undefined;
  private cleaning: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: EmbeddedLogOptions,
    lock: DirLock | null,
  ) {
    this.dir = options.dir;
    this.readOnly = options.readOnly === true;
    this.fsync = options.fsync ?? 'commit';
    this.durable = this.fsync !== 'os' && !this.readOnly;
    this.now = options.now ?? Date.now;
    this.lock = lock;
    this.store = new TopicStore(this.dir, this.durable, !this.readOnly);
  }

  static open(options: EmbeddedLogOptions): EmbeddedLog {
    const fsync = options.fsync ?? 'commit';
    if (!['always', 'commit', 'os'].includes(fsync)) {
      throw new InvalidArgumentError(
        `fsync must be "always", "commit" or "os", got ${JSON.stringify(fsync)}`,
      );
    }
    if (options.readOnly === true) {
      const log = new EmbeddedLog(options, null);
      log.recover();
      return log;
    }
    mkdirSync(options.dir, { recursive: true });
    const lock = DirLock.acquire(options.dir);
    try {
      const cleaner =
        options.cleaner === undefined ? createDefaultCleaner({ durable: fsync !== 'os' }) : options.cleaner;
      const log = new EmbeddedLog({ ...options, cleaner }, lock);
      log.recover();
      const every = options.cleanupIntervalMs ?? 60_000;
      if (cleaner !== null && every > 0) {
        log.cleanupTimer = setInterval(() => log.scheduleCleanupAll(), every);
        log.cleanupTimer.unref();
      }
      return log;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly) {
      throw new InvalidArgumentError(
        `embedded log ${this.dir} is open read-only; open it without readOnly to write`,
      );
    }
  }

  /** Read-only logs: the topics on disk now (see follower.ts). */
  private refreshTopics(): void {
    refreshTopics(this.store, this.topics, this.openPartitionFn);
  }

  private refreshTransactionLimits(): void {
    refreshTransactionLimits(this.dir, this.topics);
  }

  private recover(): void {
    if (this.readOnly) {
      this.refreshTopics();
      this.refreshTransactionLimits();
      this.recoveryReport = EMPTY_RECOVERY_REPORT;
      return;
    }
    this.recoveryReport = openAndRecoverTopics(
      this.dir,
      this.store,
      this.topics,
      this.openPartitionFn,
      this.noteRecovery,
    );
  }

  private readonly noteRecovery = (r: LogRecovery): void => {
    this.recovered.push(r);
    this.options.onRecovery?.(r);
  };

  /** What opening the log cut off, rolled back or found damaged (see `LogRecovery`), in order. */
  recoveries(): readonly LogRecovery[] {
    return this.recovered;
  }

  /** Rolls back a transaction that never committed (called by `openEmbeddedLog`, after `open`). */
  async abortPendingTransaction(): Promise<void> {
    await rollBackPendingTransaction(
      this.dir,
      this.durable,
      this.recoveryReport.abortedTransaction,
      this.topics,
      this.now(),
      this.noteRecovery,
    );
  }

  private readonly openPartitionFn = (topic: string, p: number, config: TopicConfig) =>
    this.openPartition(topic, p, config);

  private openPartition(topic: string, p: number, config: TopicConfig) {
    return Partition.open(this.partitionOptions(topic, p, config));
  }

  private partitionOptions(topic: string, p: number, config: TopicConfig): PartitionOptions {
    return {
      topic,
      partition: p,
      dir: this.store.partitionDir(topic, p),
      segmentBytes: config.segmentBytes,
      maxRecordBytes: config.maxRecordBytes,
      writable: !this.readOnly,
      durable: this.durable,
      onRoll: (part) => this.scheduleCleanup(part),
      pool: this.options.filePool ?? sharedFilePool,
    };
  }

  private checkOpen(): void {
    if (this.closing !== null) throw new LogClosedError(`embedded log ${this.dir}`);
  }

  private topic(name: string): OpenTopic {
    this.checkOpen();
    let t = this.topics.get(name);
    if (this.readOnly) t = refreshTopic(this.store, this.topics, name, this.openPartitionFn);
    if (t === undefined) throw new UnknownTopicError(name);
    return t;
  }

  private partition(topic: string, partition: number): Partition {
    const t = this.topic(topic);
    if (!Number.isInteger(partition) || partition < 0 || partition >= t.partitions.length) {
      throw new UnknownPartitionError(topic, partition, t.partitions.length);
    }
    const part = t.partitions[partition];
    if (this.readOnly) {
      part.refresh();
      this.refreshTransactionLimits();
    }
    return part;
  }

  private info(name: string, t: OpenTopic): TopicInfo {
    return {
      name,
      config: { ...t.config },
      partitions: t.partitions.map((p) => ({
        partition: p.partition,
        earliestOffset: p.earliestOffset,
        endOffset: p.visibleEnd,
      })),
    };
  }

  async createTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    this.checkWritable();
    checkTopicName(name);
    const resolved = resolveTopicConfig(name, config);
    if (this.topics.has(name)) throw new TopicExistsError(name);
    this.store.create(name, resolved);
    const t: OpenTopic = { config: resolved, partitions: [] };
    try {
      for (let p = 0; p < resolved.partitions; p++)
        t.partitions.push(Partition.create(this.partitionOptions(name, p, resolved)));
    } catch (err) {
      // a failed creation leaves nothing behind (a later open would trip over a half-made topic)
      for (const part of t.partitions) await part.close();
      this.store.remove(name);
      throw err;
    }
    this.topics.set(name, t);
    return this.info(name, t);
  }

  async ensureTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    this.checkOpen();
    if (this.readOnly) this.refreshTopics();
    const t = this.topics.get(name);
    if (t === undefined) return this.createTopic(name, config);
    resolveTopicConfig(name, config);
    checkTopicMatch(name, t.config, config);
    return this.info(name, t);
  }

  async deleteTopic(name: string): Promise<void> {
    this.checkWritable();
    const t = this.topic(name);
    if (t.partitions.some((p) => p.txnStart !== null)) {
      throw new InvalidArgumentError(
        `topic "${name}" is part of the open transaction; commit or abort it first`,
      );
    }
    this.topics.delete(name);
    for (const p of t.partitions) await p.close();
    this.store.remove(name);
  }

  async listTopics(): Promise<string[]> {
    this.checkOpen();
    if (this.readOnly) this.refreshTopics();
    return [...this.topics.keys()].sort();
  }

  async describeTopic(name: string): Promise<TopicInfo> {
    const t = this.topic(name);
    if (this.readOnly) for (let p = 0; p < t.partitions.length; p++) this.partition(name, p);
    return this.info(name, t);
  }

  async append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    const part = this.writablePartition(topic, partition);
    const result = part.append(records, this.now());
    if (this.fsync === 'always' && records.length > 0) await part.sync();
    return result;
  }

  /** `append` of a `RecordBuffer` (see `Log.appendBuffer`): its records are encoded already. */
  async appendBuffer(topic: string, partition: number, records: RecordBuffer): Promise<AppendResult> {
    const part = this.writablePartition(topic, partition);
    const result = part.appendBuffer(records, this.now());
    if (this.fsync === 'always' && records.count > 0) await part.sync();
    return result;
  }

  /** The partition a plain append may write: the log is writable and no open transaction has it. */
  private writablePartition(topic: string, partition: number): Partition {
    this.checkWritable();
    const part = this.partition(topic, partition);
    if (part.txnStart !== null) {
      throw new InvalidArgumentError(
        `${topic}/${partition} is written by the open transaction; append through the transaction, or commit or abort it first`,
      );
    }
    return part;
  }

  async read(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): Promise<LogRecord[]> {
    const { part, maxRecords, maxBytes } = this.readArgs(topic, partition, offset, options);
    return part.read(offset, maxRecords, maxBytes);
  }

  /** `read` as whole batches, copied into one buffer of their own (see `Log.readBatches`). */
  async readBatches(
    topic: string,
    partition: number,
    offset: number,
    options: BatchReadOptions = {},
  ): Promise<RecordBatches> {
    const { part, maxRecords, maxBytes } = this.readArgs(topic, partition, offset, options);
    const { batches, until } = part.readBatches(offset, maxRecords, maxBytes);
    let length = 0;
    for (const b of batches) length += b.length;
    const into = options.into;
    // the caller's buffer when they fit; else a buffer of their own (never the shared pool), so
    // that it can be transferred
    const bytes =
      into !== undefined && length <= into.length
        ? Buffer.from(into.buffer, into.byteOffset, length)
        : Buffer.allocUnsafeSlow(length);
    let pos = 0;
    for (const b of batches) {
      b.copy(bytes, pos);
      pos += b.length;
    }
    return { buffer: bytes.buffer, byteOffset: bytes.byteOffset, length, from: offset, until };
  }

  private readArgs(topic: string, partition: number, offset: number, options: ReadOptions) {
    const part = this.partition(topic, partition);
    const maxRecords = options.maxRecords ?? 1000;
    const maxBytes = options.maxBytes ?? 1024 * 1024;
    if (!Number.isSafeInteger(offset))
      throw new InvalidArgumentError(`offset must be an integer, got ${offset}`);
    if (!(maxRecords >= 1) || !(maxBytes >= 1)) {
      throw new InvalidArgumentError(`maxRecords and maxBytes must be >= 1 (got ${maxRecords}, ${maxBytes})`);
    }
    return { part, maxRecords, maxBytes };
  }

  async earliestOffset(topic: string, partition: number): Promise<number> {
    return this.partition(topic, partition).earliestOffset;
  }

  async endOffset(topic: string, partition: number): Promise<number> {
    return this.partition(topic, partition).visibleEnd;
  }

  async waitForData(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const part = this.partition(topic, partition);
    if (part.visibleEnd > offset) return true;
    if (this.readOnly) {
      const every = this.options.followPollMs ?? 100;
      const stop = this.closeController.signal;
      const both = signal === undefined ? stop : AbortSignal.any([signal, stop]);
      const wakeOn = [this.store.partitionDir(topic, partition), this.dir];
      return pollUntil(
        () => this.partition(topic, partition).visibleEnd > offset,
        timeoutMs,
        both,
        every,
        wakeOn,
      );
    }
    return part.waiters.wait(offset, timeoutMs, signal);
  }

  async holdCompaction(topic: string, partition: number, offset: number): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(
        `holdCompaction of ${topic}/${partition}: offset must be an integer >= 0, got ${String(offset)}`,
      );
    }
    this.checkWritable();
    holdPartitionCompaction(this.partition(topic, partition), offset);
  }

  async truncate(topic: string, partition: number, offset: number): Promise<void> {
    this.checkWritable();
    const part = this.partition(topic, partition);
    if (part.txnStart !== null) {
      throw new InvalidArgumentError(
        `${topic}/${partition} is written by the open transaction; commit or abort it first`,
      );
    }
    // after any compaction pass on the partition: a pass swaps segments by base offset, which a
    // truncation followed by new appends could give to other data
    await exclusive(part, () => part.truncate(offset, this.now()));
    if (this.fsync === 'always') await part.sync();
  }

  async beginTransaction(): Promise<LogTransaction> {
    this.checkWritable();
    if (this.txn !== null) {
      throw new InvalidArgumentError('a transaction is open on this log already; commit or abort it first');
    }
    this.txn = new EmbeddedTransaction(this.transactionHost());
    return this.txn;
  }

  private transactionHost() {
    return {
      dir: this.dir,
      durable: this.durable,
      partitionFor: (topic: string, partition: number) => this.partition(topic, partition),
      now: this.now,
      transactionEnded: (txn: EmbeddedTransaction) => {
        if (this.txn === txn) this.txn = null;
      },
    };
  }

  async flush(): Promise<void> {
    this.checkOpen();
    await this.syncAll();
  }

  private async syncAll(): Promise<void> {
    if (!this.durable) return;
    const parts: Partition[] = [];
    for (const t of this.topics.values()) parts.push(...t.partitions);
    await syncPartitions(parts);
  }

  /** Offers every partition to the cleaner (the timer's job; also callable by tools and tests). */
  scheduleCleanupAll(): Promise<void> {
    for (const t of this.topics.values()) for (const p of t.partitions) void this.scheduleCleanup(p);
    return this.cleaning;
  }

  /** Queues one cleaner run for `part` behind the running ones. */
  private scheduleCleanup(part: Partition): Promise<void> {
    const cleaner = this.options.cleaner;
    if (cleaner == null || this.closing !== null) return this.cleaning;
    this.cleaning = this.cleaning.then(async () => {
      const t = this.topics.get(part.topic);
      if (this.closing !== null || t === undefined || t.partitions[part.partition] !== part) return;
      if (part.txnStart !== null) return;
      try {
        if (t.config.cleanup === 'compact') {
          await cleaner.maybeCompact(part, t.config, this.now(), this.closeController.signal);
        } else await cleaner.maybeRetain(part, t.config, this.now());
      } catch (err) {
        if (err instanceof AbortedError && this.closing !== null) return; // stopped by close
        const report =
          this.options.onCleanerError ??
          ((e: unknown) =>
            process.emitWarning(`eddy: cleaning ${part.topic}/${part.partition} failed: ${String(e)}`));
        report(err, part.topic, part.partition);
      }
    });
    return this.cleaning;
  }

  /**
   * The partition object of the cleaner API (segment lists, swaps) — for compaction/retention code
   * and tools; not part of the `Log` interface.
   */
  partitionForCleaning(topic: string, partition: number): Partition {
    return this.partition(topic, partition);
  }

  /** Aborts an open transaction, flushes (per the policy), closes files, releases the lock. */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    clearInterval(this.cleanupTimer);
    this.closeController.abort();
    try {
      await this.cleaning;
      if (this.txn !== null) await this.txn.rollBack();
      await this.syncAll();
    } finally {
      for (const t of this.topics.values()) for (const p of t.partitions) await p.close();
      this.topics.clear();
      this.lock?.release();
    }
  }
}
