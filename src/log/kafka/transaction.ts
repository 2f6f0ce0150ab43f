/**
 * Kafka transactions as `LogTransaction`s, over the client's transactional producer.
 *
 * - Appends inside the transaction go to their partitions at once (the partitions join the
 *   transaction first); read_committed readers (this log's `read`, `endOffset`, `waitForData`) see
 *   them only after `commit()`, never after `abort()`. Their offsets are final if the transaction
 *   commits. An aborted transaction's records and every transaction's commit or abort marker still
 *   take offsets: Kafka offsets have gaps that readers skip.
 * - Fencing: the producer's `transactionalId` identifies the writer across restarts. A producer
 *   started with the same id (a restarted or duplicated task, the task's new owner) bumps the epoch:
 *   the broker aborts the old producer's open transaction (or lets it finish its commit first), and
 *   the old producer's next append, commit or abort fails with a `FencedError` (`EDDY_FENCED`). A
 *   fenced process must stop writing for that id.
 * - A transaction that appended nothing ends locally: Kafka has no transaction to end then (its
 *   state is still Empty; an EndTxn would fail with `INVALID_TXN_STATE`), as the Java client does.
 * - `commit()` resolves once the broker has decided the outcome (EndTxn); it writes the commit
 *   markers right after, so read_committed readers see the records a few milliseconds later, not
 *   necessarily at once. A writer that claims the transactional id (`fenceTransactions`) waits for
 *   those markers: whatever it reads afterwards includes every commit of the previous writer.
 * - After `commit()` or `abort()` (resolved or rejected) the transaction is over: every call rejects
 *   with `InvalidArgumentError`. A failed `commit()` leaves the outcome to the broker (it aborts on
 *   timeout); nothing of it is visible unless the commit completed.
 */
import type { Producer } from '@platformatic/kafka';
import { type EddyError, InvalidArgumentError } from '../../util/errors.js';
import type { AppendRecord, AppendResult, LogTransaction } from '../types.js';
import { toEddyError } from './kafka-errors.js';

/** The client's transaction object (not exported by name). */
export type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>;

/** What a transaction needs of its log. */
export interface TransactionHost {
  /** Checks the log is open and the partition exists (typed errors otherwise). */
  checkPartition(topic: string, partition: number): Promise<void>;
  /** Produces within `tx` to one partition, in call order per partition. */
  appendIn(
    tx: Transaction,
    topic: string,
    partition: number,
    records: readonly AppendRecord[],
  ): Promise<AppendResult>;
  /** Called once when the transaction is over; with the error when its commit or abort failed. */
  ended(error?: EddyError): void;
}

export class KafkaTransaction implements LogTransaction {
  private over = false;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly partitions = new Set<string>();

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

  async append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    this.checkActive(`appending to ${topic}/${partition}`);
    this.partitions.add(`${topic}\u0000${partition}`);
    const op = (async () => {
      await this.host.checkPartition(topic, partition);
      return this.host.appendIn(this.tx, topic, partition, records);
    })();
    this.pending.add(op);
    try {
      return await op;
    } finally {
      this.pending.delete(op);
    }
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
      if (this.partitions.size === 0) await this.tx.cancel();
      else if (commit) await this.tx.commit();
      else await this.tx.abort();
    } catch (err) {
      failure = toEddyError(
        err,
        commit ? 'committing the Kafka transaction' : 'aborting the Kafka transaction',
      );
      throw failure;
    } finally {
      this.host.ended(failure);
    }
  }
}
