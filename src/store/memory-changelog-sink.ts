/**
 * An in-memory `ChangelogSink`: every record sent gets the next offset (from 0) at once and is kept
 * in `records`, for tests and for users who want a changelog without a log. `flush()` resolves with
 * the last offset. `restoreRecords()` hands the records back in the shape `Store.restore` takes.
 *
 * Corner cases: byte arrays are kept as given (the store never mutates what it sends); `failNext`
 * makes the next `flush()` reject, to test what a store does when its changelog fails.
 */
import type { ChangelogRecord, ChangelogSink } from './types.js';

export interface OffsetRecord extends ChangelogRecord {
  readonly offset: number;
}

export class MemoryChangelogSink implements ChangelogSink {
  readonly records: OffsetRecord[] = [];
  /** Number of `flush()` calls that resolved. */
  flushes = 0;
  private failure: Error | undefined;

  send(records: readonly ChangelogRecord[]): void {
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      this.records.push({ key: r.key, value: r.value, offset: this.records.length });
    }
  }

  sendOne(key: Uint8Array, value: Uint8Array | null): void {
    this.records.push({ key, value, offset: this.records.length });
  }

  async flush(): Promise<number | undefined> {
    if (this.failure !== undefined) {
      const err = this.failure;
      this.failure = undefined;
      throw err;
    }
    this.flushes++;
    return this.records.length > 0 ? this.records.length - 1 : undefined;
  }

  /** Makes the next `flush()` reject with `err`. */
  failNext(err: Error): void {
    this.failure = err;
  }

  /** The records from `offset` on (all by default), as `Store.restore` takes them. */
  restoreRecords(offset = 0): OffsetRecord[] {
    return this.records.slice(offset);
  }
}
