/**
 * Transactions of the embedded log: "atomic commit with recovery truncation", how the runtime gets
 * exactly-once on the embedded log.
 *
 * - The first append of a transaction to a partition records `{ topic, partition, start }` (the
 *   partition's end offset then) in `<dir>/transaction.json`, written atomically (and fsynced under
 *   the `always` and `commit` policies) BEFORE any record of the transaction reaches that partition.
 *   The partitions first touched in one burst of appends (a commit appends to all of its
 *   partitions at once) share one write, done off the event loop.
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
import type { RecordBuffer } from '../record-buffer.js';
import type { AppendRecord, AppendResult, LogTransaction } from '../types.js';
import { fsyncDirAsync, unlinkIfExists, unlinkIfExistsAsync, writeFileAtomicAsync } from './fs-util.js';
import { type Partition, syncPartitions } from './partition.js';
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
  /** The latest `transaction.json` write (chained after the ones before it). */
  private manifest: Promise<void> | undefined;
  private manifestScheduled = false;

  constructor(private readonly host: TransactionHost) {}

  private checkOpen(): void {
    if (this.state !== 'open')
      throw new InvalidArgumentError('this transaction has ended (committed or aborted)');
  }

  async append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    const part = await this.partitionToWrite(topic, partition);
    return part.append(records, this.host.now(), ATTR_TRANSACTIONAL);
  }

  /** `append` of a `RecordBuffer` (its records encoded already). */
  async appendBuffer(topic: string, partition: number, records: RecordBuffer): Promise<AppendResult> {
    const part = await this.partitionToWrite(topic, partition);
    return part.appendBuffer(records, this.host.now(), ATTR_TRANSACTIONAL);
  }

  /** The partition, taken into the transaction, once the manifest that names it is written. */
  private async partitionToWrite(topic: string, partition: number): Promise<Partition> {
    this.checkOpen();
    const part = this.host.partitionFor(topic, partition);
    if (part.txnStart === null) {
      // invisible from now on; its records reach the file only once the manifest names it
      part.txnStart = part.endOffset;
      this.touched.push({ part, start: part.txnStart });
      this.scheduleManifest();
    }
    // Every append waits for the manifest write in flight (writes are chained), so a partition's
    // records are never written before the manifest that names it, and appends keep their order.
    if (this.manifest !== undefined) await this.manifest;
    this.checkOpen();
    return part;
  }

  /**
   * Schedules one write of `transaction.json` naming every partition touched so far, after the
   * appends of the current burst (a commit appends to all its partitions at once): one atomic,
   * fsynced write per burst instead of one per partition, off the event loop.
   */
  private scheduleManifest(): void {
    if (this.manifestScheduled) return;
    this.manifestScheduled = true;
    const previous = this.manifest ?? Promise.resolve();
    this.manifest = previous.then(async () => {
      await Promise.resolve(); // let the rest of the burst register its partitions
      this.manifestScheduled = false;
      const pending: PendingPartition[] = this.touched.map((t) => ({
        topic: t.part.topic,
        partition: t.part.partition,
        start: t.start,
      }));
      await writeFileAtomicAsync(
        join(this.host.dir, TRANSACTION_FILE),
        JSON.stringify({ partitions: pending }),
        this.host.durable,
      );
    });
  }

  async commit(): Promise<void> {
    this.checkOpen();
    this.state = 'ending';
    try {
      if (this.manifest !== undefined) await this.manifest;
      if (this.host.durable) await syncPartitions(this.touched.map((t) => t.part));
      await unlinkIfExistsAsync(join(this.host.dir, TRANSACTION_FILE));
      if (this.host.durable) await fsyncDirAsync(this.host.dir);
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
      // a manifest write still in flight must land before the file is removed
      if (this.manifest !== undefined) await this.manifest.catch(() => undefined);
      for (const t of this.touched) {
        // nothing written there (the append failed): nothing to cut, and damage is not ours to drop
        if (t.start < t.part.endOffset) await t.part.truncate(t.start, this.host.now());
        t.part.txnStart = null;
      }
      if (this.host.durable) await syncPartitions(this.touched.map((t) => t.part));
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
