/**
 * The Kafka log: Eddy's `Log` on an Apache Kafka cluster (3.5+ / 4.x, KRaft or not), through
 * `@platformatic/kafka` (a maintained pure-TypeScript client; its 1.x line, because 2.x needs
 * Node 22).
 *
 * - Topics: created with the asked partition count, the replication factor (the topic's
 *   `replicationFactor`, else the log's), and `cleanup.policy`, `retention.ms`, `retention.bytes`,
 *   `segment.bytes`, `delete.retention.ms` (and `min.insync.replicas` when the log sets it).
 *   `ensureTopic` on an existing topic with another partition count or cleanup policy rejects with
 *   `TopicMismatchError`; it is never used silently.
 * - Appends: one produce request per `append`, to the explicit partition, by an idempotent producer
 *   with acks=all, so a resolved append is on every in-sync replica and retries never duplicate.
 *   Appends to one partition run one at a time, in call order.
 * - Reads: read_committed fetches from the leader (see `partition-reader.ts`); `endOffset` is the
 *   last stable offset. Offsets have gaps (transaction markers, aborted and compacted records).
 * - Transactions: `beginTransaction({ id })` uses one transactional producer per transactional id
 *   (default: the log's `transactionalId`); one open transaction per id, transactions of different
 *   ids may be open together. `fenceTransactions(id)` claims an id (see `transaction.ts` for
 *   fencing); a fenced id refuses transactions until it is claimed again.
 * - Durability: an append is durable when it resolves (replicated to the in-sync replicas; Kafka
 *   leaves fsync to replication); `flush()` only waits for appends in flight.
 * - `truncate` is not supported (`supports.truncate` is false).
 *
 * Every client, connection pool and timer belongs to this log and is closed by `close()`.
 */
import { ProduceAcks, type Producer, type ProducerOptions } from '@platformatic/kafka';
import { type EddyError, FencedError, InvalidArgumentError, LogClosedError } from '../../util/errors.js';
import type { RecordBuffer } from '../record-buffer.js';
import { largestRecord } from '../record-size.js';
import { checkTopicMatch, checkTopicName, resolveTopicConfig } from '../topic-config.js';
import type {
  AppendRecord,
  AppendResult,
  Log,
  LogRecord,
  LogSupports,
  LogTransaction,
  ReadOptions,
  RecordSpans,
  TopicConfigInput,
  TopicInfo,
  TransactionOptions,
} from '../types.js';
import { TopicAdmin } from './admin.js';
import { connectFailure } from './connection.js';
import { EddyProducer } from './eddy-producer.js';
import { toEddyError, tooLargeError } from './kafka-errors.js';
import { type KafkaLogOptions, type ResolvedKafkaLogOptions, resolveKafkaLogOptions } from './options.js';
import { PartitionReader } from './partition-reader.js';
import { batchParts, groupParts, type ProducePart, sendInTurn, toMessageGroups } from './produce.js';
import { SerialQueue } from './serial-queue.js';
import { KafkaTransaction, type TopicPartition, type Transaction } from './transaction.js';

const DEFAULT_MAX_RECORDS = 1000;
const EMPTY = Buffer.alloc(0);

/** The transactional producer of one transactional id. */
interface TransactionalWriter {
  readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  transaction: KafkaTransaction | undefined;
  /** Set once a newer producer took the id over: every later transaction rejects with it. */
  fenced: FencedError | undefined;
}
const DEFAULT_MAX_BYTES = 1024 * 1024;

/** Connects to the cluster (checking that it answers) and returns the log. */
export async function openKafkaLog(options: KafkaLogOptions): Promise<KafkaLog> {
  const log = new KafkaLog(resolveKafkaLogOptions(options));
  try {
    await log.admin.client.metadata({ topics: [] });
  } catch (err) {
    await log.close();
    throw connectFailure(err, `connecting to Kafka at ${options.brokers.join(',')}`, options, log.options);
  }
  return log;
}

export class KafkaLog implements Log {
  readonly backend = 'kafka' as const;
  readonly supports: LogSupports = { truncate: false, transactions: true, persistent: true };
  /** `appendBuffer` takes `RecordBuffer`s in Kafka's v2 record layout. */
  readonly bufferFormat = 'kafka' as const;
  /** Topic administration and metadata (also for tests and diagnostics). */
  readonly admin: TopicAdmin;
  private readonly reader: PartitionReader;
  private readonly producer: Producer;
  /** Transactional writers by transactional id. */
  private readonly writers = new Map<string, TransactionalWriter>();
  private readonly queue = new SerialQueue();
  private closing: Promise<void> | null = null;

  constructor(readonly options: ResolvedKafkaLogOptions) {
    this.admin = new TopicAdmin(options);
    this.reader = new PartitionReader(this.admin, options);
    this.producer = new EddyProducer(this.producerOptions(`${options.clientId}-producer`));
  }

  private producerOptions(
    clientId: string,
    transactionalId?: string,
  ): ProducerOptions<Buffer, Buffer, Buffer, Buffer> {
    const o = this.options;
    return {
      clientId,
      bootstrapBrokers: o.brokers,
      ...o.connection,
      idempotent: true,
      acks: ProduceAcks.ALL,
      timeout: o.requestTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      connectTimeout: o.connectTimeoutMs,
      retries: o.retries,
      retryDelay: o.retryDelayMs,
      autocreateTopics: false,
      // A transactional producer's InitProducerId must carry producer id -1 and epoch -1 ("a new
      // producer"): the client's default (0, 0) names an existing producer, and the broker answers
      // PRODUCER_FENCED for every transactional id it already knows (KIP-360's check), so a
      // restarted process could never get its id back.
      ...(transactionalId === undefined ? {} : { transactionalId, producerId: -1n, producerEpoch: -1 }),
    };
  }

  private checkOpen(): void {
    if (this.closing !== null) throw new LogClosedError(`Kafka log (${this.options.brokers.join(',')})`);
  }

  private async checkPartition(topic: string, partition: number): Promise<void> {
    this.checkOpen();
    if (!Number.isSafeInteger(partition)) {
      throw new InvalidArgumentError(`partition must be an integer, got ${partition} (topic "${topic}")`);
    }
    await this.admin.partition(topic, partition);
  }

  async createTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    this.checkOpen();
    checkTopicName(name);
    const resolved = resolveTopicConfig(name, {
      ...config,
      replicationFactor: config.replicationFactor ?? this.options.replicationFactor,
    });
    await this.admin.create(name, resolved);
    return this.describeTopic(name);
  }

  async ensureTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    this.checkOpen();
    checkTopicName(name);
    resolveTopicConfig(name, config); // ConfigError before any request
    const existing = await this.describeIfExists(name);
    if (existing !== undefined) {
      checkTopicMatch(name, existing.config, config);
      return existing;
    }
    try {
      return await this.createTopic(name, config);
    } catch (err) {
      if (!(err instanceof Error && 'code' in err && err.code === 'EDDY_TOPIC_EXISTS')) throw err;
      // Created concurrently by someone else: check theirs.
      const info = await this.describeTopic(name);
      checkTopicMatch(name, info.config, config);
      return info;
    }
  }

  private async describeIfExists(name: string): Promise<TopicInfo | undefined> {
    if (!(await this.admin.list()).includes(name)) return undefined;
    return this.describeTopic(name);
  }

  async deleteTopic(name: string): Promise<void> {
    this.checkOpen();
    checkTopicName(name);
    await this.admin.delete(name);
    this.reader.forget(name);
  }

  async listTopics(): Promise<string[]> {
    this.checkOpen();
    return this.admin.list();
  }

  async describeTopic(name: string): Promise<TopicInfo> {
    this.checkOpen();
    checkTopicName(name);
    const config = await this.admin.config(name);
    const ids = Array.from({ length: config.partitions }, (_, i) => i);
    const { earliest, end } = await this.admin.offsets(name, ids);
    return {
      name,
      config,
      partitions: ids.map((partition) => ({
        partition,
        earliestOffset: earliest[partition],
        endOffset: end[partition],
      })),
    };
  }

  async append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    await this.checkPartition(topic, partition);
    if (!Array.isArray(records))
      throw new InvalidArgumentError(`append to ${topic}/${partition}: records must be an array`);
    if (records.length === 0) {
      const end = await this.endOffset(topic, partition);
      return { baseOffset: end, nextOffset: end };
    }
    this.checkNotInTransaction(topic, partition);
    const parts = groupParts(toMessageGroups(topic, partition, records));
    return this.sendQueued(undefined, topic, partition, parts, records);
  }

  /**
   * `append` of a `RecordBuffer` whose records were encoded in Kafka's v2 layout when they were
   * added (`format: 'kafka'`): each of its batches goes out as it is, only its header's producer
   * fields and CRC written at the request (see `eddy-producer.ts`). Records of another layout or
   * objects go through `append`.
   */
  async appendBuffer(topic: string, partition: number, records: RecordBuffer): Promise<AppendResult> {
    if (!records.encoded || records.format !== 'kafka')
      return this.append(topic, partition, records.records());
    await this.checkPartition(topic, partition);
    if (records.count === 0) {
      const end = await this.endOffset(topic, partition);
      return { baseOffset: end, nextOffset: end };
    }
    this.checkNotInTransaction(topic, partition);
    const parts = batchParts(topic, partition, records.kafkaBatches(Date.now()));
    return this.sendQueued(undefined, topic, partition, parts, records);
  }

  /**
   * Sends `parts` (the produce requests of `records`) to `topic`/`partition` one after the other, by
   * the log's producer or in `tx`, behind the appends to that partition already queued. `records`
   * names the append in errors (its count; its largest record when the broker refuses a batch as
   * too large).
   */
  private sendQueued(
    tx: Transaction | undefined,
    topic: string,
    partition: number,
    parts: readonly ProducePart[],
    records: readonly AppendRecord[] | RecordBuffer,
  ): Promise<AppendResult> {
    const count = Array.isArray(records) ? records.length : (records as RecordBuffer).count;
    const key = tx === undefined ? `${topic}\u0000${partition}` : `tx\u0000${topic}\u0000${partition}`;
    return this.queue.run(key, async () => {
      if (tx === undefined) this.checkOpen();
      try {
        return await sendInTurn(parts, topic, partition, (messages) =>
          tx === undefined ? this.producer.send({ messages }) : tx.send({ messages }),
        );
      } catch (err) {
        throw (
          tooLargeError(err, topic, partition, count, () =>
            Array.isArray(records) ? largestRecord(records) : (records as RecordBuffer).largestRecord(),
          ) ??
          toEddyError(
            err,
            `appending ${count} records to ${topic}/${partition}${tx === undefined ? '' : ' in a transaction'}`,
          )
        );
      }
    });
  }

  private checkNotInTransaction(topic: string, partition: number): void {
    for (const w of this.writers.values()) {
      if (w.transaction?.touches(topic, partition)) {
        throw new InvalidArgumentError(
          `${topic}/${partition} is part of the open transaction; append through the transaction or after it ends`,
        );
      }
    }
  }

  async read(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): Promise<LogRecord[]> {
    const { maxRecords, maxBytes } = await this.checkRead(topic, partition, options);
    return this.reader.read(topic, partition, offset, maxRecords, maxBytes);
  }

  async readSpans(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): Promise<RecordSpans[]> {
    const { maxRecords, maxBytes } = await this.checkRead(topic, partition, options);
    return this.reader.readSpans(topic, partition, offset, maxRecords, maxBytes);
  }

  /** Checks a read's partition and budget; returns the budget with its defaults. */
  private async checkRead(
    topic: string,
    partition: number,
    options: ReadOptions,
  ): Promise<{ maxRecords: number; maxBytes: number }> {
    await this.checkPartition(topic, partition);
    const maxRecords = options.maxRecords ?? DEFAULT_MAX_RECORDS;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
      throw new InvalidArgumentError(`maxRecords must be an integer >= 1, got ${maxRecords}`);
    }
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new InvalidArgumentError(`maxBytes must be an integer >= 1, got ${maxBytes}`);
    }
    return { maxRecords, maxBytes };
  }

  async earliestOffset(topic: string, partition: number): Promise<number> {
    await this.checkPartition(topic, partition);
    return (await this.admin.offsets(topic, [partition])).earliest[0];
  }

  async endOffset(topic: string, partition: number): Promise<number> {
    await this.checkPartition(topic, partition);
    return (await this.admin.offsets(topic, [partition])).end[0];
  }

  /**
   * The high watermark: one past the last record written, open transactions' records included
   * (`endOffset` stops below them). Kafka-only; the coordinator waits for the two to meet.
   */
  async highWatermark(topic: string, partition: number): Promise<number> {
    await this.checkPartition(topic, partition);
    return (await this.admin.offsets(topic, [partition], true)).end[0];
  }

  async waitForData(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    await this.checkPartition(topic, partition);
    return this.reader.waitForData(topic, partition, offset, Math.max(0, timeoutMs), signal);
  }

  /**
   * Begins a transaction of the transactional id `options.id` (default: the log's `transactionalId`).
   * The id's producer is created, and initialised (which fences earlier producers of the id), at its
   * first transaction or by {@link fenceTransactions}. Rejects with `FencedError` when another
   * producer has taken the id over since.
   */
  async beginTransaction(options: TransactionOptions = {}): Promise<LogTransaction> {
    this.checkOpen();
    const id = options.id ?? this.options.transactionalId;
    let writer = this.writers.get(id);
    if (writer?.fenced !== undefined) throw writer.fenced;
    if (writer?.transaction !== undefined) {
      throw new InvalidArgumentError(
        `a transaction of transactionalId "${id}" is already open on this Kafka log; commit or abort it first`,
      );
    }
    writer ??= this.newWriter(id);
    let tx: Transaction;
    try {
      tx = await writer.producer.beginTransaction();
    } catch (err) {
      throw this.writerFailed(writer, toEddyError(err, `beginning a transaction (transactionalId "${id}")`));
    }
    const w = writer;
    const transaction = new KafkaTransaction(tx, {
      checkPartition: (topic, partition) => this.checkPartition(topic, partition),
      addPartitions: (t, partitions) => this.addPartitions(w.producer, t, partitions),
      appendIn: (t, topic, partition, records) => this.appendIn(t, topic, partition, records),
      appendBufferIn: (t, topic, partition, records) => this.appendBufferIn(t, topic, partition, records),
      ended: (error) => {
        if (w.transaction === transaction) w.transaction = undefined;
        if (error !== undefined) this.writerFailed(w, error);
      },
    });
    w.transaction = transaction;
    return transaction;
  }

  /**
   * Claims the transactional id `id` for this log (Kafka's `initTransactions`): a new producer
   * initialises the id, which bumps its epoch. Resolves once every transaction an earlier producer
   * of the id left open has been completed or aborted by the broker; from then on that producer's
   * appends, commits and aborts fail with `FencedError`. Also un-fences an id fenced on this log.
   * Retries while the broker is still completing the old transaction (`CONCURRENT_TRANSACTIONS`),
   * up to `requestTimeoutMs`.
   */
  async fenceTransactions(id: string): Promise<void> {
    this.checkOpen();
    await this.releaseTransactions(id);
    const deadline = performance.now() + this.options.requestTimeoutMs;
    for (;;) {
      // a fresh producer per attempt: the client keeps a failed begin's transaction as "active"
      const writer = this.newWriter(id);
      try {
        const tx = await writer.producer.beginTransaction();
        // nothing was added to it: cancel ends it locally, without an EndTxn
        await tx.cancel();
        return;
      } catch (err) {
        const error = this.writerFailed(writer, toEddyError(err, `claiming transactionalId "${id}"`));
        if (error.retriable && performance.now() < deadline && this.closing === null) {
          await new Promise((r) => setTimeout(r, this.options.retryDelayMs));
          continue;
        }
        throw error;
      }
    }
  }

  /** Closes the producer of transactional id `id` (aborting its open transaction, if any). */
  async releaseTransactions(id: string): Promise<void> {
    const writer = this.writers.get(id);
    if (writer === undefined) return;
    this.writers.delete(id);
    await writer.transaction?.abort().catch(() => {});
    await writer.producer.close().catch(() => {});
  }

  private newWriter(id: string): TransactionalWriter {
    const writer: TransactionalWriter = {
      producer: new EddyProducer(this.producerOptions(`${this.options.clientId}-tx-producer`, id)),
      transaction: undefined,
      fenced: undefined,
    };
    this.writers.set(id, writer);
    return writer;
  }

  /**
   * A failed begin, commit or abort leaves the producer in a state the client cannot resume (an
   * EndTxn of unknown outcome, a transaction it still thinks open): the producer is closed. A fenced
   * id stays fenced (its next `beginTransaction` rejects with the same `FencedError`) until
   * `fenceTransactions` claims it again; any other failure lets the next transaction start a new
   * producer, whose initialisation aborts whatever the failed one left open.
   */
  private writerFailed(writer: TransactionalWriter, error: EddyError): EddyError {
    if (error instanceof FencedError) {
      writer.fenced = error;
    } else {
      for (const [id, w] of this.writers) if (w === writer) this.writers.delete(id);
    }
    writer.transaction = undefined;
    writer.producer.close().catch(() => {});
    return error;
  }

  /**
   * Adds `partitions` to `tx` at the coordinator (AddPartitionsToTxn), through the client's
   * transaction, which records them: its sends to them then add nothing more. The client needs the
   * topics' metadata (it checks the partition numbers against their counts); it is cached.
   */
  private async addPartitions(
    producer: Producer<Buffer, Buffer, Buffer, Buffer>,
    tx: Transaction,
    partitions: readonly TopicPartition[],
  ): Promise<void> {
    const topics = [...new Set(partitions.map((p) => p.topic))];
    try {
      const metadata = await producer.metadata({ topics });
      await tx.addPartitions(
        metadata,
        partitions.map(({ topic, partition }) => ({ topic, partition, value: EMPTY })),
      );
    } catch (err) {
      const names = partitions.map((p) => `${p.topic}/${p.partition}`).join(', ');
      throw toEddyError(err, `adding ${names} to the Kafka transaction (transactionalId "${tx.id}")`);
    }
  }

  private appendIn(
    tx: Transaction,
    topic: string,
    partition: number,
    records: readonly AppendRecord[],
  ): Promise<AppendResult> {
    if (records.length === 0)
      return this.endOffset(topic, partition).then((end) => ({ baseOffset: end, nextOffset: end }));
    const parts = groupParts(toMessageGroups(topic, partition, records));
    return this.sendQueued(tx, topic, partition, parts, records);
  }

  /** `appendIn` of a `RecordBuffer` in the Kafka layout (see `appendBuffer`). */
  private appendBufferIn(
    tx: Transaction,
    topic: string,
    partition: number,
    records: RecordBuffer,
  ): Promise<AppendResult> {
    const parts = batchParts(topic, partition, records.kafkaBatches(Date.now()));
    return this.sendQueued(tx, topic, partition, parts, records);
  }

  async flush(): Promise<void> {
    this.checkOpen();
    await this.queue.drain();
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    await this.queue.drain();
    for (const w of this.writers.values()) await w.transaction?.abort().catch(() => {});
    await this.reader.close();
    const clients = [this.producer, ...[...this.writers.values()].map((w) => w.producer), this.admin];
    this.writers.clear();
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  }
}
