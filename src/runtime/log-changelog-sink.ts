/**
 * A store's changelog sink over one partition of a log topic: the store's logged layer queues
 * records with `send` (synchronous); `flush` appends them in one batch — inside the current log
 * transaction when the job is exactly-once — and resolves with the offset of the last record.
 * An exactly-once sink refuses to append outside a transaction: its store's engine then stays marked
 * "not clean", and restore rebuilds it from the committed changelog.
 */
import type { AppendRecord, Log, LogTransaction } from '../log/types.js';
import type { ChangelogRecord, ChangelogSink } from '../store/types.js';
import { asBuffer } from '../util/bytes.js';
import { JobError } from '../util/errors.js';

export class LogChangelogSink implements ChangelogSink {
  private pending: AppendRecord[] = [];
  private txn: LogTransaction | undefined;
  /** Offset of the last record appended (-1 when the changelog is empty). */
  lastOffset: number;

  constructor(
    private readonly log: Log,
    readonly topic: string,
    readonly partition: number,
    endOffset: number,
    private readonly exactlyOnce = false,
  ) {
    this.lastOffset = endOffset - 1;
  }

  private abandoned = false;

  /**
   * Drops the queued records and refuses every later flush, so that a store closed after a failure
   * never marks itself consistent with records that did not reach the changelog.
   */
  abandon(): void {
    this.pending = [];
    this.abandoned = true;
  }

  /** Routes the next flushes into `txn` (or straight to the log when undefined). */
  useTransaction(txn: LogTransaction | undefined): void {
    this.txn = txn;
  }

  send(records: readonly ChangelogRecord[]): void {
    for (const r of records) {
      this.pending.push({ key: asBuffer(r.key), value: r.value === null ? null : asBuffer(r.value) });
    }
  }

  /** One record, queued as the one object the append takes (no array, no intermediate record). */
  sendOne(key: Uint8Array, value: Uint8Array | null): void {
    this.pending.push({ key: asBuffer(key), value: value === null ? null : asBuffer(value) });
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  async flush(): Promise<number | undefined> {
    if (this.abandoned) {
      throw new JobError(`changelog ${this.topic}/${this.partition} was abandoned after a failure`);
    }
    if (this.pending.length > 0) {
      if (this.exactlyOnce && !this.txn) {
        // exactly-once: changelog records travel only inside a commit's transaction
        throw new JobError(
          `changelog ${this.topic}/${this.partition}: an exactly-once store can only be flushed by a commit`,
        );
      }
      const batch = this.pending;
      this.pending = [];
      const result = this.txn
        ? await this.txn.append(this.topic, this.partition, batch)
        : await this.log.append(this.topic, this.partition, batch);
      this.lastOffset = result.nextOffset - 1;
    }
    return this.lastOffset >= 0 ? this.lastOffset : undefined;
  }
}
