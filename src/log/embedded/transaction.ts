/**
 * Transactions of the embedded log: "atomic commit with recovery truncation", how the runtime gets
 * exactly-once on the embedded log.
 *
 * - The first append of a transaction to a partition records `{ topic, partition, start }` (the
 *   partition's end offset then) in `<dir>/transaction.json`, written atomically (and fsynced under
 *   the `always` and `commit` policies) BEFORE any record of the transaction reaches that partition.
 * - Appends are written to disk at once, as usual, but stay invisible: the partition's visible end
 *   (`read`, `endOffset`, `waitForData`) stays at `start` until commit.
 * - `commit()`: fsync the touched partitions (unless the policy is `os`), then delete
 *   `transaction.json` (and fsync the directory). The deletion is the commit point. Then the records
 *   become visible and waiters wake.
 * - `abort()`: truncate every touched partition back to its `start`, delete `transaction.json`.
 * - On open, a `transaction.json` that still exists means a transaction that never committed: its
 *   partitions are truncated back to their `start` (reported in `recoveryReport`).
 *
 * One transaction at a time per log. While one is open, non-transactional appends and `truncate`
 * on a partition it touched are rejected with `InvalidArgumentError`; on other partitions they go on.
 * After `commit` or `abort` (resolved or rejected) the transaction is over and rejects every call.
 */
import { join } from 'node:path';
import { InvalidArgumentError } from '../../util/errors.js';
import type { AppendRecord, AppendResult, LogTransaction } from '../types.js';
import { fsyncDir, unlinkIfExists, writeFileAtomic } from './fs-util.js';
import type { Partition } from './partition.js';
import { ATTR_TRANSACTIONAL } from './record-batch.js';

/** One entry of `transaction.json`. */
export interface PendingPartition {
  topic: string;
  partition: number;
  start: number;
}

/** What a transaction needs of its log. */
export interface TransactionHost {
  readonly dir: string;
  /** fsync data and metadata (the `always` and `commit` policies). */
  readonly durable: boolean;
  /** The partition, or a typed error (unknown topic or partition, log closed). */
  partitionFor(topic: string, partition: number): Partition;
  now(): number;
  /** Called once when the transaction ends, whichever way. */
  transactionEnded(txn: EmbeddedTransaction): void;
}

export const TRANSACTION_FILE = 'transaction.json';

export class EmbeddedTransaction implements LogTransaction {
  private readonly touched: { part: Partition; start: number }[] = [];
  private state: 'open' | 'ending' | 'over' = 'open';

  constructor(private readonly host: TransactionHost) {}

  private checkOpen(): void {
    if (this.state !== 'open')
      throw new InvalidArgumentError('this transaction has ended (committed or aborted)');
  }

  async append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    this.checkOpen();
    const part = this.host.partitionFor(topic, partition);
    if (part.txnStart === null) {
      const start = part.endOffset;
      this.touched.push({ part, start });
      this.writePending();
      part.txnStart = start;
    }
    return part.append(records, this.host.now(), ATTR_TRANSACTIONAL);
  }

  private writePending(): void {
    const pending: PendingPartition[] = this.touched.map((t) => ({
      topic: t.part.topic,
      partition: t.part.partition,
      start: t.start,
    }));
    writeFileAtomic(
      join(this.host.dir, TRANSACTION_FILE),
      JSON.stringify({ partitions: pending }),
      this.host.durable,
    );
  }

  async commit(): Promise<void> {
    this.checkOpen();
    this.state = 'ending';
    try {
      if (this.host.durable) await Promise.all(this.touched.map((t) => t.part.sync()));
      unlinkIfExists(join(this.host.dir, TRANSACTION_FILE));
      if (this.host.durable) fsyncDir(this.host.dir);
    } catch (err) {
      await this.rollBack();
      throw err;
    }
    for (const t of this.touched) {
      t.part.txnStart = null;
      t.part.waiters.notify(t.part.endOffset);
    }
    this.finish();
  }

  async abort(): Promise<void> {
    this.checkOpen();
    this.state = 'ending';
    await this.rollBack();
  }

  /** Truncates the touched partitions back and removes the pending file. */
  async rollBack(): Promise<void> {
    try {
      for (const t of this.touched) {
        await t.part.truncate(t.start, this.host.now());
        t.part.txnStart = null;
      }
      if (this.host.durable) await Promise.all(this.touched.map((t) => t.part.sync()));
      unlinkIfExists(join(this.host.dir, TRANSACTION_FILE));
    } finally {
      this.finish();
    }
  }

  private finish(): void {
    if (this.state === 'over') return;
    this.state = 'over';
    this.host.transactionEnded(this);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }
}
