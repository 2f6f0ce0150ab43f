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
 * - Transactions: `beginTransaction()` uses a transactional producer with the log's
 *   `transactionalId` (see `transaction.ts` for fencing). One at a time per log.
 * - Durability: an append is durable when it resolves (replicated to the in-sync replicas; Kafka
 *   leaves fsync to replication); `flush()` only waits for appends in flight.
 * - `truncate` is not supported (`supports.truncate` is false).
 *
 * Every client, connection pool and timer belongs to this log and is closed by `close()`.
 */
import { ProduceAcks, Producer, type ProducerOptions } from '@platformatic/kafka';
import { InvalidArgumentError, LogClosedError } from '../../util/errors.js';
import { checkTopicMatch, checkTopicName, resolveTopicConfig } from '../topic-config.js';
import type {
  AppendRecord,
  AppendResult,
  Log,
  LogRecord,
  LogSupports,
  LogTransaction,
  ReadOptions,
  TopicConfigInput,
  TopicInfo,
} from '../types.js';
import { TopicAdmin } from './admin.js';
import { toEddyError } from './kafka-errors.js';
import { type KafkaLogOptions, type ResolvedKafkaLogOptions, resolveKafkaLogOptions } from './options.js';
import { PartitionReader } from './partition-reader.js';
import { sendGroups, toMessageGroups } from './produce.js';
import { SerialQueue } from './serial-queue.js';
import { KafkaTransaction, type Transaction } from './transaction.js';

const DEFAULT_MAX_RECORDS = 1000;
const DEFAULT_MAX_BYTES = 1024 * 1024;

/** Connects to the cluster (checking that it answers) and returns the log. */
export async function openKafkaLog(options: KafkaLogOptions): Promise<KafkaLog> {
  const log = new KafkaLog(resolveKafkaLogOptions(options));
  try {
    await log.admin.client.metadata({ topics: [] });
  } catch (err) {
    await log.close();
    throw toEddyError(err, `connecting to Kafka at ${options.brokers.join(',')}`);
  }
  return log;
}

export class KafkaLog implements Log {
  readonly backend = 'kafka' as const;
  readonly supports: LogSupports = { truncate: false, transactions: true, persistent: true };
  /** Topic administration and metadata (also for tests and diagnostics). */
  readonly admin: TopicAdmin;
  private readonly reader: PartitionReader;
  private readonly producer: Producer;
  private txProducer: Producer | undefined;
  private transaction: KafkaTransaction | undefined;
  private readonly queue = new SerialQueue();
  private closing: Promise<void> | null = null;

  constructor(readonly options: ResolvedKafkaLogOptions) {
    this.admin = new TopicAdmin(options);
    this.reader = new PartitionReader(this.admin, options);
    this.producer = new Producer<Buffer, Buffer, Buffer, Buffer>(
      this.producerOptions(`${options.clientId}-producer`),
    );
  }

  private producerOptions(
    clientId: string,
    transactionalId?: string,
  ): ProducerOptions<Buffer, Buffer, Buffer, Buffer> {
    const o = this.options;
    return {
      clientId,
      bootstrapBrokers: o.brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      timeout: o.requestTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      connectTimeout: o.connectTimeoutMs,
      retries: o.retries,
      retryDelay: o.retryDelayMs,
      autocreateTopics: false,
      ...(transactionalId === undefined ? {} : { transactionalId }),
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
    if (this.transaction?.touches(topic, partition)) {
      throw new InvalidArgumentError(
        `${topic}/${partition} is part of the open transaction; append through the transaction or after it ends`,
      );
    }
    const groups = toMessageGroups(topic, partition, records);
    return this.queue.run(`${topic}\u0000${partition}`, async () => {
      this.checkOpen();
      try {
        return await sendGroups(groups, topic, partition, (messages) => this.producer.send({ messages }));
      } catch (err) {
        throw toEddyError(err, `appending ${records.length} records to ${topic}/${partition}`);
      }
    });
  }

  async read(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): Promise<LogRecord[]> {
    await this.checkPartition(topic, partition);
    const maxRecords = options.maxRecords ?? DEFAULT_MAX_RECORDS;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
      throw new InvalidArgumentError(`maxRecords must be an integer >= 1, got ${maxRecords}`);
    }
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new InvalidArgumentError(`maxBytes must be an integer >= 1, got ${maxBytes}`);
    }
    return this.reader.read(topic, partition, offset, maxRecords, maxBytes);
  }

  async earliestOffset(topic: string, partition: number): Promise<number> {
    await this.checkPartition(topic, partition);
    return (await this.admin.offsets(topic, [partition])).earliest[0];
  }

  async endOffset(topic: string, partition: number): Promise<number> {
    await this.checkPartition(topic, partition);
    return (await this.admin.offsets(topic, [partition])).end[0];
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

  async beginTransaction(): Promise<LogTransaction> {
    this.checkOpen();
    if (this.transaction !== undefined) {
      throw new InvalidArgumentError(
        'a transaction is already open on this Kafka log; commit or abort it first',
      );
    }
    this.txProducer ??= new Producer<Buffer, Buffer, Buffer, Buffer>(
      this.producerOptions(`${this.options.clientId}-tx-producer`, this.options.transactionalId),
    );
    const producer = this.txProducer;
    let tx: Transaction;
    try {
      tx = await producer.beginTransaction();
    } catch (err) {
      throw toEddyError(err, `beginning a transaction (transactionalId "${this.options.transactionalId}")`);
    }
    const transaction = new KafkaTransaction(tx, {
      checkPartition: (topic, partition) => this.checkPartition(topic, partition),
      appendIn: (t, topic, partition, records) => this.appendIn(t, topic, partition, records),
      ended: () => {
        if (this.transaction === transaction) this.transaction = undefined;
      },
    });
    this.transaction = transaction;
    return transaction;
  }

  private appendIn(
    tx: Transaction,
    topic: string,
    partition: number,
    records: readonly AppendRecord[],
  ): Promise<AppendResult> {
    if (records.length === 0)
      return this.endOffset(topic, partition).then((end) => ({ baseOffset: end, nextOffset: end }));
    const groups = toMessageGroups(topic, partition, records);
    return this.queue.run(`tx\u0000${topic}\u0000${partition}`, async () => {
      try {
        return await sendGroups(groups, topic, partition, (messages) => tx.send({ messages }));
      } catch (err) {
        throw toEddyError(
          err,
          `appending ${records.length} records to ${topic}/${partition} in a transaction`,
        );
      }
    });
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
    const open = this.transaction;
    if (open !== undefined) await open.abort().catch(() => {});
    await this.reader.close();
    const clients = [this.producer, this.txProducer, this.admin];
    await Promise.all(clients.map((c) => c?.close().catch(() => {})));
  }
}
