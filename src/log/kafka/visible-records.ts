/**
 * The records a read_committed reader may see in a fetched partition, decoded lazily from the
 * fetch's raw record set: control batches (transaction markers) and batches of aborted
 * transactions are dropped, as Kafka's Java consumer does. The broker lists the aborted
 * transactions overlapping the fetched range (producer id and first offset); a transactional batch
 * is aborted when its producer has an aborted transaction that started at or before it and whose
 * abort marker has not been passed yet.
 *
 * A `VisibleRecords` is a cursor: `take` decodes only as many records as it returns and stops
 * mid-batch when the budget is used, so the next `take` continues there without decoding anything
 * twice (the reader keeps the cursor of a partially read fetch for the next `read`).
 *
 * Offsets keep their gaps (markers, aborted records, compaction); `nextOffset` says where the next
 * read continues, so a reader can skip a range that held nothing visible.
 */
import type { SpanBuilder } from '../record-spans.js';
import type { LogRecord } from '../types.js';
import { batchRecords } from './batch-records.js';
import type { AbortedTransaction, FetchedPartition } from './fetch-response.js';
import {
  ATTR_COMPRESSION,
  ATTR_CONTROL,
  ATTR_TRANSACTIONAL,
  BATCH_HEADER_SIZE,
  completeBatchLength,
  EMPTY_HEADERS,
  RecordReader,
  readInt64,
} from './record-batch.js';

const EMPTY = Buffer.alloc(0);

export interface TakeResult {
  /** Bytes of keys, values and headers taken. */
  readonly bytes: number;
  /** True when `maxRecords` or `maxBytes` stopped it (records remain). */
  readonly full: boolean;
}

export class VisibleRecords {
  /** Where the next read continues: after the last record taken, or after the last batch passed. */
  nextOffset: number;
  private readonly buf: Buffer;
  /** Byte position of the next batch in `buf`. */
  private pos = 0;
  private readonly aborted: readonly AbortedTransaction[];
  private nextAborted = 0;
  private readonly abortedProducers = new Set<bigint>();
  /** The batch being read: its records, how many are left, its base offset and timestamp. */
  private readonly rec = new RecordReader(EMPTY);
  private left = 0;
  private baseOffset = 0;
  private baseTimestamp = 0;
  private batchNext = 0;
  /** The buffer the current batch's record positions are spans of, and where its records start. */
  private block: Buffer = EMPTY;
  private blockBase = 0;

  /**
   * @param from records below this offset are skipped (a fetch starts at the batch holding it)
   * @param where the topic/partition, for errors
   */
  constructor(
    part: FetchedPartition,
    private readonly from: number,
    private readonly where: string,
  ) {
    this.buf = part.records;
    this.nextOffset = from;
    this.aborted =
      part.abortedTransactions.length === 0
        ? part.abortedTransactions
        : [...part.abortedTransactions].sort((a, b) => a.firstOffset - b.firstOffset);
  }

  /** True when every batch of the fetch has been passed. */
  get done(): boolean {
    return this.left === 0 && completeBatchLength(this.buf, this.pos) < 0;
  }

  /** The offset after the last complete batch of the fetch (where a fetch of what follows starts). */
  fetchEnd(): number {
    let pos = this.pos;
    let end = Math.max(this.nextOffset, this.left > 0 ? this.batchNext : 0);
    for (;;) {
      const len = completeBatchLength(this.buf, pos);
      if (len < 0) return end;
      end = Math.max(end, readInt64(this.buf, pos) + this.buf.readInt32BE(pos + 23) + 1);
      pos += len;
    }
  }

  /**
   * Appends to `out` the next visible records: at most `maxRecords`, and no more than `maxBytes` of
   * keys, values and headers (but at least one record if `atLeastOne`).
   */
  take(out: LogRecord[], maxRecords: number, maxBytes: number, atLeastOne: boolean): TakeResult {
    let bytes = 0;
    let taken = 0;
    const rec = this.rec;
    for (;;) {
      if (this.left === 0 && !this.nextBatch()) return { bytes, full: false };
      while (this.left > 0) {
        const start = rec.pos;
        const length = rec.varint();
        const recordEnd = rec.pos + length;
        rec.pos++; // attributes
        const timestampDelta = rec.varint();
        const offset = this.baseOffset + rec.varint();
        if (offset < this.from) {
          rec.pos = recordEnd;
          this.left--;
          continue;
        }
        const key = rec.bytes();
        const value = rec.bytes();
        const headerCount = rec.varint();
        const headers = headerCount === 0 ? EMPTY_HEADERS : rec.headers(headerCount);
        let size = (key === null ? 0 : key.length) + (value === null ? 0 : value.length);
        if (headerCount > 0) size += headersSize(headers);
        if ((taken > 0 || !atLeastOne) && bytes + size > maxBytes) {
          rec.pos = start; // not taken: the next take starts with it
          this.nextOffset = offset;
          return { bytes, full: true };
        }
        rec.pos = recordEnd;
        this.left--;
        bytes += size;
        out.push({ offset, timestamp: this.baseTimestamp + timestampDelta, key, value, headers });
        taken++;
        this.nextOffset = offset + 1;
        if (taken >= maxRecords) {
          if (this.left === 0) this.nextOffset = Math.max(this.nextOffset, this.batchNext);
          return { bytes, full: true };
        }
      }
      this.nextOffset = Math.max(this.nextOffset, this.batchNext);
    }
  }

  /**
   * `take` into `out` as byte spans (no object per record): the same records, budget and
   * continuation. Uncompressed batches are spans of the fetch's own buffer, so one fetch is one
   * block; a compressed batch is a block of its inflated records.
   */
  takeSpans(out: SpanBuilder, maxRecords: number, maxBytes: number, atLeastOne: boolean): TakeResult {
    let bytes = 0;
    let taken = 0;
    const rec = this.rec;
    for (;;) {
      if (this.left === 0 && !this.nextBatch()) return { bytes, full: false };
      out.open(this.block, Math.min(this.left, maxRecords - taken));
      const base = this.blockBase;
      while (this.left > 0) {
        const start = rec.pos;
        const length = rec.varint();
        const recordEnd = rec.pos + length;
        rec.pos++; // attributes
        rec.varint(); // timestamp delta
        const offset = this.baseOffset + rec.varint();
        if (offset < this.from) {
          rec.pos = recordEnd;
          this.left--;
          continue;
        }
        const keyLength = rec.varint();
        const keyStart = rec.pos;
        if (keyLength > 0) rec.pos += keyLength;
        const valueLength = rec.varint();
        const valueStart = rec.pos;
        if (valueLength > 0) rec.pos += valueLength;
        let size = Math.max(0, keyLength) + Math.max(0, valueLength);
        const headerCount = rec.varint();
        for (let h = 0; h < headerCount; h++) {
          const nameLength = rec.varint();
          if (nameLength > 0) rec.pos += nameLength;
          const headerLength = rec.varint();
          if (headerLength > 0) rec.pos += headerLength;
          size += Math.max(0, nameLength) + Math.max(0, headerLength);
        }
        if ((taken > 0 || !atLeastOne) && bytes + size > maxBytes) {
          rec.pos = start; // not taken: the next take starts with it
          this.nextOffset = offset;
          return { bytes, full: true };
        }
        rec.pos = recordEnd;
        this.left--;
        bytes += size;
        out.push(offset, base + keyStart, keyLength, base + valueStart, valueLength);
        taken++;
        this.nextOffset = offset + 1;
        if (taken >= maxRecords) {
          if (this.left === 0) this.nextOffset = Math.max(this.nextOffset, this.batchNext);
          return { bytes, full: true };
        }
      }
      this.nextOffset = Math.max(this.nextOffset, this.batchNext);
    }
  }

  /** Moves to the next batch with visible records; false when none is left. */
  private nextBatch(): boolean {
    const buf = this.buf;
    for (;;) {
      const length = completeBatchLength(buf, this.pos);
      if (length < 0) return false;
      const pos = this.pos;
      const end = pos + length;
      this.pos = end;
      const baseOffset = readInt64(buf, pos);
      const lastOffset = baseOffset + buf.readInt32BE(pos + 23);
      const attributes = buf.readInt16BE(pos + 21);
      const transactional = (attributes & ATTR_TRANSACTIONAL) !== 0;
      const producerId = transactional ? buf.readBigInt64BE(pos + 43) : -1n;
      if (transactional) {
        while (
          this.nextAborted < this.aborted.length &&
          this.aborted[this.nextAborted].firstOffset <= lastOffset
        ) {
          this.abortedProducers.add(this.aborted[this.nextAborted].producerId);
          this.nextAborted++;
        }
      }
      if ((attributes & ATTR_CONTROL) !== 0) {
        // Control record key: version (int16), type (int16): 0 abort, 1 commit.
        const r = new RecordReader(batchRecords(buf, pos, end, this.where));
        r.varint(); // length
        r.pos++; // attributes
        r.varint(); // timestamp delta
        r.varint(); // offset delta
        const key = r.bytes();
        if (key !== null && key.length >= 4 && key.readInt16BE(2) === 0)
          this.abortedProducers.delete(producerId);
        this.nextOffset = Math.max(this.nextOffset, lastOffset + 1);
        continue;
      }
      if ((transactional && this.abortedProducers.has(producerId)) || lastOffset < this.from) {
        this.nextOffset = Math.max(this.nextOffset, lastOffset + 1);
        continue;
      }
      const count = buf.readInt32BE(pos + 57);
      if (count <= 0) {
        this.nextOffset = Math.max(this.nextOffset, lastOffset + 1);
        continue;
      }
      this.rec.buf = batchRecords(buf, pos, end, this.where);
      this.rec.pos = 0;
      if ((attributes & ATTR_COMPRESSION) === 0) {
        this.block = buf;
        this.blockBase = pos + BATCH_HEADER_SIZE;
      } else {
        this.block = this.rec.buf;
        this.blockBase = 0;
      }
      this.left = count;
      this.baseOffset = baseOffset;
      this.baseTimestamp = readInt64(buf, pos + 27);
      this.batchNext = lastOffset + 1;
      return true;
    }
  }
}

function headersSize(headers: LogRecord['headers']): number {
  let size = 0;
  for (const name in headers) size += Buffer.byteLength(name) + headers[name].length;
  return size;
}
