/**
 * The memory log: the whole `Log` contract in process memory, for unit tests of users' jobs and of
 * Eddy itself. Nothing survives `close()` (`supports.persistent` is false).
 *
 * - Offsets, budgets, tombstones, headers, timestamps, `waitForData` (per-partition waiters woken by
 *   appends and commits, one timer each, cleared), `truncate` and transactions behave as in the
 *   embedded log — including transactions: appended records are held but invisible until commit,
 *   dropped by abort; non-transactional appends to a partition the open transaction wrote are
 *   rejected.
 * - Keys, values and header values are copied on append, so callers may reuse their buffers.
 * - Cleanup: compact topics keep every record (no compaction) and delete topics keep everything (no
 *   retention); the configs are stored and described. The earliest offset is always 0.
 * - `flush()` resolves at once: there is nothing to make durable.
 */
import {
  InvalidArgumentError,
  LogClosedError,
  OffsetOutOfRangeError,
  TopicExistsError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../../util/errors.js';
import { checkRecordSizes } from '../record-size.js';
import { checkTopicMatch, checkTopicName, resolveTopicConfig } from '../topic-config.js';
import type {
  AppendRecord,
  AppendResult,
  Log,
  LogRecord,
  LogSupports,
  LogTransaction,
  ReadOptions,
  RecordHeaders,
  TopicConfig,
  TopicConfigInput,
  TopicInfo,
} from '../types.js';
import { WaitList } from '../wait-list.js';

interface MemoryPartition {
  topic: string;
  partition: number;
  /** The topic's `maxRecordBytes`. */
  maxRecordBytes: number;
  records: LogRecord[];
  /** Sizes (key + value + headers) of `records`, for the maxBytes budget. */
  sizes: number[];
  txnStart: number | null;
  waiters: WaitList;
}

interface MemoryTopic {
  config: TopicConfig;
  partitions: MemoryPartition[];
}

const EMPTY_HEADERS: RecordHeaders = Object.freeze({});
const SUPPORTS: LogSupports = { truncate: true, transactions: true, persistent: false };

function copyHeaders(h: RecordHeaders | undefined): { headers: RecordHeaders; size: number } {
  if (h === undefined) return { headers: EMPTY_HEADERS, size: 0 };
  const names = Object.keys(h);
  if (names.length === 0) return { headers: EMPTY_HEADERS, size: 0 };
  const out: Record<string, Buffer> = {};
  let size = 0;
  for (const n of names) {
    out[n] = Buffer.from(h[n]);
    size += n.length + h[n].length;
  }
  return { headers: Object.freeze(out), size };
}

export class MemoryLog implements Log {
  readonly backend = 'memory' as const;
  readonly supports = SUPPORTS;
  private readonly topics = new Map<string, MemoryTopic>();
  private closed = false;
  private txn: MemoryTransaction | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  private checkOpen(): void {
    if (this.closed) throw new LogClosedError('memory log');
  }

  private topic(name: string): MemoryTopic {
    this.checkOpen();
    const t = this.topics.get(name);
    if (t === undefined) throw new UnknownTopicError(name);
    return t;
  }

  /** @internal The partition, or a typed error. */
  partition(topic: string, partition: number): MemoryPartition {
    const t = this.topic(topic);
    if (!Number.isInteger(partition) || partition < 0 || partition >= t.partitions.length) {
      throw new UnknownPartitionError(topic, partition, t.partitions.length);
    }
    return t.partitions[partition];
  }

  private info(name: string, t: MemoryTopic): TopicInfo {
    return {
      name,
      config: { ...t.config },
      partitions: t.partitions.map((p, i) => ({ partition: i, earliestOffset: 0, endOffset: visibleEnd(p) })),
    };
  }

  async createTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    this.checkOpen();
    checkTopicName(name);
    const resolved = resolveTopicConfig(name, config);
    if (this.topics.has(name)) throw new TopicExistsError(name);
    const t: MemoryTopic = { config: resolved, partitions: [] };
    for (let p = 0; p < resolved.partitions; p++) {
      t.partitions.push({
        topic: name,
        partition: p,
        maxRecordBytes: resolved.maxRecordBytes,
        records: [],
        sizes: [],
        txnStart: null,
        waiters: new WaitList(),
      });
    }
    this.topics.set(name, t);
    return this.info(name, t);
  }

  async ensureTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    this.checkOpen();
    const t = this.topics.get(name);
    if (t === undefined) return this.createTopic(name, config);
    resolveTopicConfig(name, config);
    checkTopicMatch(name, t.config, config);
    return this.info(name, t);
  }

  async deleteTopic(name: string): Promise<void> {
    const t = this.topic(name);
    if (t.partitions.some((p) => p.txnStart !== null)) {
      throw new InvalidArgumentError(
        `topic "${name}" is part of the open transaction; commit or abort it first`,
      );
    }
    for (const p of t.partitions) p.waiters.cancelAll();
    this.topics.delete(name);
  }

  async listTopics(): Promise<string[]> {
    this.checkOpen();
    return [...this.topics.keys()].sort();
  }

  async describeTopic(name: string): Promise<TopicInfo> {
    return this.info(name, this.topic(name));
  }

  async append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    const p = this.partition(topic, partition);
    if (p.txnStart !== null) {
      throw new InvalidArgumentError(
        `${topic}/${partition} is written by the open transaction; append through the transaction, or commit or abort it first`,
      );
    }
    return this.appendTo(p, records);
  }

  /** @internal Appends without the transaction check (transactions use it). */
  appendTo(p: MemoryPartition, records: readonly AppendRecord[]): AppendResult {
    const baseOffset = p.records.length;
    const now = this.now();
    checkRecordSizes(p.topic, p.partition, records, p.maxRecordBytes);
    for (const r of records) {
      const ts = r.timestamp ?? now;
      if (!Number.isSafeInteger(ts) || ts < 0) {
        throw new InvalidArgumentError(
          `record timestamp ${ts} is not a non-negative integer of milliseconds`,
        );
      }
    }
    for (const r of records) {
      const key = r.key == null ? null : Buffer.from(r.key);
      const value = r.value === null ? null : Buffer.from(r.value);
      const { headers, size } = copyHeaders(r.headers);
      const offset = p.records.length;
      p.records.push({ offset, timestamp: r.timestamp ?? now, key, value, headers });
      p.sizes.push((key?.length ?? 0) + (value?.length ?? 0) + size + 8);
    }
    const nextOffset = p.records.length;
    if (p.txnStart === null) p.waiters.notify(nextOffset);
    return { baseOffset, nextOffset };
  }

  async read(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): Promise<LogRecord[]> {
    const p = this.partition(topic, partition);
    const maxRecords = options.maxRecords ?? 1000;
    const maxBytes = options.maxBytes ?? 1024 * 1024;
    if (!(maxRecords >= 1) || !(maxBytes >= 1)) {
      throw new InvalidArgumentError(`maxRecords and maxBytes must be >= 1 (got ${maxRecords}, ${maxBytes})`);
    }
    const end = visibleEnd(p);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > end) {
      throw new OffsetOutOfRangeError(topic, partition, offset, 0, end);
    }
    const out: LogRecord[] = [];
    let bytes = 0;
    for (let o = offset; o < end && out.length < maxRecords; o++) {
      bytes += p.sizes[o];
      if (bytes > maxBytes && out.length > 0) break;
      out.push(p.records[o]);
    }
    return out;
  }

  async earliestOffset(topic: string, partition: number): Promise<number> {
    this.partition(topic, partition);
    return 0;
  }

  async endOffset(topic: string, partition: number): Promise<number> {
    return visibleEnd(this.partition(topic, partition));
  }

  async waitForData(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const p = this.partition(topic, partition);
    if (visibleEnd(p) > offset) return true;
    return p.waiters.wait(offset, timeoutMs, signal);
  }

  async truncate(topic: string, partition: number, offset: number): Promise<void> {
    const p = this.partition(topic, partition);
    if (p.txnStart !== null) {
      throw new InvalidArgumentError(
        `${topic}/${partition} is written by the open transaction; commit or abort it first`,
      );
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > p.records.length) {
      throw new OffsetOutOfRangeError(topic, partition, offset, 0, p.records.length);
    }
    p.records.length = offset;
    p.sizes.length = offset;
  }

  async beginTransaction(): Promise<LogTransaction> {
    this.checkOpen();
    if (this.txn !== null) {
      throw new InvalidArgumentError('a transaction is open on this log already; commit or abort it first');
    }
    const txn = new MemoryTransaction(this, () => {
      if (this.txn === txn) this.txn = null;
    });
    this.txn = txn;
    return txn;
  }

  async flush(): Promise<void> {
    this.checkOpen();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.txn?.rollBack();
    for (const t of this.topics.values()) for (const p of t.partitions) p.waiters.cancelAll();
    this.topics.clear();
  }
}

function visibleEnd(p: MemoryPartition): number {
  return p.txnStart ?? p.records.length;
}

/** The memory log's transaction: records held invisible until commit, dropped by abort. */
class MemoryTransaction implements LogTransaction {
  private readonly touched: { p: MemoryPartition; start: number }[] = [];
  private over = false;

  constructor(
    private readonly log: MemoryLog,
    private readonly ended: () => void,
  ) {}

  private checkOpen(): void {
    if (this.over) throw new InvalidArgumentError('this transaction has ended (committed or aborted)');
  }

  async append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    this.checkOpen();
    const p = this.log.partition(topic, partition);
    if (p.txnStart === null) {
      this.touched.push({ p, start: p.records.length });
      p.txnStart = p.records.length;
    }
    return this.log.appendTo(p, records);
  }

  async commit(): Promise<void> {
    this.checkOpen();
    this.over = true;
    for (const { p } of this.touched) {
      p.txnStart = null;
      p.waiters.notify(p.records.length);
    }
    this.ended();
  }

  async abort(): Promise<void> {
    this.checkOpen();
    this.rollBack();
  }

  rollBack(): void {
    this.over = true;
    for (const { p, start } of this.touched) {
      p.records.length = start;
      p.sizes.length = start;
      p.txnStart = null;
    }
    this.ended();
  }
}
