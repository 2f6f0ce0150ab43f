/**
 * A store's changelog sink over one partition of a log topic: the store's logged layer queues
 * records with `send` (synchronous) into a `RecordBuffer` (encoded at once when the log takes
 * encoded batches: no object per record until the commit); `flush` appends them in one batch —
 * inside the current log transaction when the job is exactly-once — and resolves with the offset of
 * the last record. Two buffers take turns, so records sent while an append is in flight go to the
 * other one and a buffer's memory is reused from commit to commit.
 * At-least-once, a buffer that reaches `BACKGROUND_BYTES` of encoded records (just under one Kafka
 * produce batch), or `BACKGROUND_RECORDS` records kept as objects, is appended at once, in the
 * background (one append in flight at a time), as Kafka Streams hands changelog records to its
 * producer as they are written: the commit then appends only the rest, and waits for that one
 * first. Records past the checkpoint are what a crash between a changelog append and its checkpoint
 * leaves anyway, which restore handles (it restores to the checkpoint and re-logs the keys after it).
 * An exactly-once sink refuses to append outside a transaction: its store's engine then stays marked
 * "not clean", and restore rebuilds it from the committed changelog.
 */
import { appendBuffered, RecordBuffer } from '../log/record-buffer.js';
import type { Log, LogTransaction } from '../log/types.js';
import type { ChangelogRecord, ChangelogSink } from '../store/types.js';
import { JobError } from '../util/errors.js';

/** At-least-once: encoded bytes after which a buffer is appended without waiting for the commit. */
export const BACKGROUND_BYTES = 480 * 1024;
/** The same for a buffer of record objects (a log without `appendBuffer`). */
export const BACKGROUND_RECORDS = 5000;

export class LogChangelogSink implements ChangelogSink {
  private pending: RecordBuffer;
  /** The other buffer, empty, while `pending` fills (undefined while its append is in flight). */
  private spare: RecordBuffer | undefined;
  private readonly encode: boolean;
  private txn: LogTransaction | undefined;
  /** The background append in flight (at-least-once), and the failure of one (the next flush throws it). */
  private inflight: Promise<void> | undefined;
  private failed: { error: unknown } | undefined;
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
    this.encode = log.appendBuffer !== undefined;
    this.pending = this.newBuffer();
  }

  private newBuffer(): RecordBuffer {
    // the logged layer never changes the bytes it sends: no copy in objects mode
    return new RecordBuffer({ encode: this.encode, copy: false, format: this.log.bufferFormat });
  }

  private abandoned = false;

  /**
   * Drops the queued records and refuses every later flush, so that a store closed after a failure
   * never marks itself consistent with records that did not reach the changelog.
   */
  abandon(): void {
    this.pending.reset();
    this.abandoned = true;
  }

  /** Routes the next flushes into `txn` (or straight to the log when undefined). */
  useTransaction(txn: LogTransaction | undefined): void {
    this.txn = txn;
  }

  send(records: readonly ChangelogRecord[]): void {
    for (let i = 0; i < records.length; i++) this.sendOne(records[i].key, records[i].value);
  }

  /** One record (no array, no record object). */
  sendOne(key: Uint8Array, value: Uint8Array | null): void {
    const pending = this.pending;
    pending.add(key, value);
    if (
      (pending.byteLength >= BACKGROUND_BYTES || pending.count >= BACKGROUND_RECORDS) &&
      !this.exactlyOnce &&
      this.inflight === undefined
    ) {
      this.appendInBackground();
    }
  }

  /** Starts appending the pending buffer; the loop goes on (see the file's comment). */
  private appendInBackground(): void {
    if (this.abandoned || this.failed !== undefined) return;
    const batch = this.pending;
    this.pending = this.spare ?? this.newBuffer();
    this.spare = undefined;
    this.inflight = appendBuffered(this.log, this.topic, this.partition, batch).then(
      (result) => {
        this.lastOffset = result.nextOffset - 1;
        batch.reset();
        this.spare = batch;
        this.inflight = undefined;
      },
      (error: unknown) => {
        this.failed = { error };
        this.inflight = undefined;
      },
    );
  }

  get pendingCount(): number {
    return this.pending.count;
  }

  async flush(): Promise<number | undefined> {
    if (this.abandoned) {
      throw new JobError(`changelog ${this.topic}/${this.partition} was abandoned after a failure`);
    }
    if (this.inflight !== undefined) await this.inflight;
    if (this.failed !== undefined) throw this.failed.error;
    if (this.pending.count > 0) {
      if (this.exactlyOnce && !this.txn) {
        // exactly-once: changelog records travel only inside a commit's transaction
        throw new JobError(
          `changelog ${this.topic}/${this.partition}: an exactly-once store can only be flushed by a commit`,
        );
      }
      const batch = this.pending;
      this.pending = this.spare ?? this.newBuffer();
      this.spare = undefined;
      const result = await appendBuffered(this.txn ?? this.log, this.topic, this.partition, batch);
      this.lastOffset = result.nextOffset - 1;
      batch.reset();
      this.spare = batch;
    }
    return this.lastOffset >= 0 ? this.lastOffset : undefined;
  }
}
