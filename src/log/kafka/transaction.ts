/**
 * Kafka transactions as `LogTransaction`s, over the client's transactional producer.
 *
 * - Appends inside the transaction go to their partitions at once, once their partitions joined the
 *   transaction: the broker (Kafka 3.6+, KIP-890) refuses a transactional produce to a partition the
 *   coordinator has not added (`TRANSACTION_ABORTABLE`). This class adds the partitions itself, one
 *   `AddPartitionsToTxn` request at a time, each for every partition asked for meanwhile (as the
 *   Java client batches them), and sends to a partition only once its request has answered. The
 *   client's own add inside `send` cannot be relied on: it deduplicates concurrent adds by operation
 *   name, not by partitions, so the second of two concurrent first sends to different partitions
 *   rode on the first one's request and went out unadded (issue 14).
 * - read_committed readers (this log's `read`, `endOffset`, `waitForData`) see the appends only
 *   after `commit()`, never after `abort()`. Their offsets are final if the transaction commits. An
 *   aborted transaction's records and every transaction's commit or abort marker still take
 *   offsets: Kafka offsets have gaps that readers skip.
 * - A transaction an append of which failed at the broker cannot commit: `commit()` aborts it and
 *   rejects with that append's error (an append refused before it was sent, a malformed record or an
 *   unknown partition, does not count). Otherwise the other partitions' records would commit
 *   without it. The log then replaces the id's producer.
 * - Fencing: the producer's `transactionalId` identifies the writer across restarts. A producer
 *   started with the same id (a restarted or duplicated task, the task's new owner) bumps the epoch:
 *   the broker aborts the old producer's open transaction (or lets it finish its commit first), and
 *   the old producer's next append, commit or abort fails with a `FencedError` (`EDDY_FENCED`). A
 *   fenced process must stop writing for that id.
 * - A transaction that appended nothing (no partition joined it) ends locally: Kafka has no
 *   transaction to end then (its state is still Empty; an EndTxn would fail with
 *   `INVALID_TXN_STATE`), as the Java client does.
 * - `commit()` resolves once the broker has decided the outcome (EndTxn); it writes the commit
 *   markers right after, so read_committed readers see the records a few milliseconds later, not
 *   necessarily at once. A writer that claims the transactional id (`fenceTransactions`) waits for
 *   those markers: whatever it reads afterwards includes every commit of the previous writer.
 * - After `commit()` or `abort()` (resolved or rejected) the transaction is over: every call rejects
 *   with `InvalidArgumentError`. A failed `commit()` leaves the outcome to the broker (it aborts on
 *   timeout); nothing of it is visible unless the commit completed.
 */
import type { Producer } from '@platformatic/kafka';
import { EddyError, InvalidArgumentError } from '../../util/errors.js';
import type { RecordBuffer } from '../record-buffer.js';
import type { AppendRecord, AppendResult, LogTransaction } from '../types.js';
import { toEddyError } from './kafka-errors.js';

/** The client's transaction object (not exported by name). */
export type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>;

/** One partition of a topic. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** What a transaction needs of its log. */
export interface TransactionHost {
  /** Checks the log is open and the partition exists (typed errors otherwise). */
  checkPartition(topic: string, partition: number): Promise<void>;
  /** Adds the partitions to `tx` at the coordinator, in one `AddPartitionsToTxn` request. */
  addPartitions(tx: Transaction, partitions: readonly TopicPartition[]): Promise<void>;
  /** Produces within `tx` to one partition, in call order per partition. */
  appendIn(
    tx: Transaction,
    topic: string,
    partition: number,
    records: readonly AppendRecord[],
  ): Promise<AppendResult>;
  /** `appendIn` of a non-empty `RecordBuffer` in the Kafka layout (`KafkaLog.appendBuffer`). */
  appendBufferIn(
    tx: Transaction,
    topic: string,
    partition: number,
    records: RecordBuffer,
  ): Promise<AppendResult>;
  /**
   * Called once when the transaction is over; with the error when its commit or abort failed, or
   * when an append of it failed at the broker.
   */
  ended(error?: EddyError): void;
}

export class KafkaTransaction implements LogTransaction {
  private over = false;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly partitions = new Set<string>();
  /** Set once an `AddPartitionsToTxn` went out: before, the transaction ends locally. */
  private asked = false;
  /** The first append failure at the broker: a commit aborts instead and rejects with it. */
  private failed: EddyError | undefined;
  /** Partitions in the transaction or joining it: the `AddPartitionsToTxn` that adds each. */
  private readonly joins = new Map<string, Promise<void>>();
  /** Partitions waiting for the next `AddPartitionsToTxn`, and that request (not sent yet). */
  private queued: TopicPartition[] = [];
  private nextAdd: Promise<void> | undefined;
  /** The latest `AddPartitionsToTxn` (settled or in flight; never rejects). */
  private lastAdd: Promise<void> = Promise.resolve();

  constructor(
    private readonly tx: Transaction,
    private readonly host: TransactionHost,
  ) {}

  private checkActive(what: string): void {
    if (this.over)
      throw new InvalidArgumentError(`${what}: the Kafka transaction is over (committed or aborted)`);
  }

  /** True while the transaction is open and has appended (or is appending) to the partition. */
  touches(topic: string, partition: number): boolean {
    return !this.over && this.partitions.has(`${topic}\u0000${partition}`);
  }

  append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    return this.run(topic, partition, records.length, () =>
      this.host.appendIn(this.tx, topic, partition, records),
    );
  }

  /** `append` of a `RecordBuffer`: in the Kafka layout, its batches as they are (see `KafkaLog`). */
  appendBuffer(topic: string, partition: number, records: RecordBuffer): Promise<AppendResult> {
    if (!records.encoded || records.format !== 'kafka' || records.count === 0)
      return this.append(topic, partition, records.records());
    return this.run(topic, partition, records.count, () =>
      this.host.appendBufferIn(this.tx, topic, partition, records),
    );
  }

  private async run(
    topic: string,
    partition: number,
    count: number,
    send: () => Promise<AppendResult>,
  ): Promise<AppendResult> {
    this.checkActive(`appending to ${topic}/${partition}`);
    this.partitions.add(`${topic}\u0000${partition}`);
    const op = (async () => {
      await this.host.checkPartition(topic, partition);
      try {
        if (count > 0) await this.join(topic, partition);
        return await send();
      } catch (err) {
        if (!(err instanceof InvalidArgumentError) && err instanceof EddyError) this.failed ??= err;
        throw err;
      }
    })();
    this.pending.add(op);
    try {
      return await op;
    } finally {
      this.pending.delete(op);
    }
  }

  /**
   * Resolves once `topic`/`partition` is in the transaction at the coordinator. Partitions asked for
   * while a request is in flight go together in the next one, sent when that one has answered (the
   * client keeps one in flight per producer); a rejected add is asked again by the next append.
   */
  private join(topic: string, partition: number): Promise<void> {
    const key = `${topic}\u0000${partition}`;
    const known = this.joins.get(key);
    if (known !== undefined) return known;
    this.queued.push({ topic, partition });
    if (this.nextAdd === undefined) {
      const add = this.lastAdd
        // the next turn of the event loop: appends started together join in one request
        .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
        .then(() => {
          this.nextAdd = undefined;
          this.asked = true;
          const partitions = this.queued;
          this.queued = [];
          return this.host.addPartitions(this.tx, partitions);
        });
      this.nextAdd = add;
      this.lastAdd = add.catch(() => undefined);
    }
    const joined = this.nextAdd as Promise<void>;
    this.joins.set(key, joined);
    joined.catch(() => {
      if (this.joins.get(key) === joined) this.joins.delete(key);
    });
    return joined;
  }

  async commit(): Promise<void> {
    await this.end(true);
  }

  async abort(): Promise<void> {
    await this.end(false);
  }

  private async end(commit: boolean): Promise<void> {
    this.checkActive(commit ? 'commit' : 'abort');
    this.over = true;
    let failure: EddyError | undefined;
    try {
      // Appends still in flight belong to the transaction: wait for them (their failures are theirs).
      await Promise.allSettled([...this.pending]);
      if (!this.asked) await this.tx.cancel();
      else if (commit && this.failed === undefined) await this.tx.commit();
      else await this.tx.abort();
    } catch (err) {
      failure = toEddyError(
        err,
        commit ? 'committing the Kafka transaction' : 'aborting the Kafka transaction',
      );
      throw failure;
    } finally {
      // after a failed append the producer's state is unknown: the log replaces it
      failure ??= this.failed;
      this.host.ended(failure);
    }
    if (commit && this.failed !== undefined) throw this.failed;
  }
}
