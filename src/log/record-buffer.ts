/**
 * Records waiting for one append, encoded as they are added: what the runtime's changelog sinks and
 * output collectors buffer between two commits. With a log that takes encoded batches (the embedded
 * log's `appendBuffer`) each record is copied once, into the batch layout of
 * `embedded/record-batch.ts`, at `add` time; the append then only writes the header and the CRC
 * (`seal`) and hands the bytes to the file. No object per record lives until the commit, so a
 * million buffered records are one buffer for the garbage collector instead of a million objects.
 *
 * Modes:
 * - `encode: true` (the log has `appendBuffer`): records are encoded at `add`.
 * - `encode: false` (Kafka, the memory log): records are kept as `AppendRecord` objects, as before.
 * - A record added with its own `timestamp` turns an encoding buffer into objects (it decodes what
 *   it holds, once): the batch layout stores timestamps as deltas from the batch's smallest one,
 *   which is known only at the append; records without a timestamp get the append's time, as with
 *   `Log.append`.
 *
 * `copy: true` copies keys and values at `add` in objects mode (the caller may reuse its bytes: a
 * user codec); with `copy: false` the caller promises never to change them. Encoding always copies.
 *
 * Sizes: `maxRecordBytes` is checked at the append (`checkSizes`), as `Log.append` does, naming the
 * record by its index in the append.
 */

import { asBuffer } from '../util/bytes.js';
import { crc32c, crc32cCombine } from '../util/crc32c.js';
import { EddyError } from '../util/errors.js';
import {
  BATCH_HEADER_SIZE,
  decodeRecords,
  recordBodySize,
  recordSize,
  writeBatchCrc,
  writeBatchHeader,
  writeRecord,
} from './embedded/record-batch.js';
import { RecordReader } from './kafka/record-batch.js';
import {
  KAFKA_BATCH_HEADER_SIZE,
  recordBodySize as kafkaRecordBodySize,
  varintSize as kafkaVarintSize,
  MAX_BATCH_BYTES,
  writeBatchHeader as writeKafkaBatchHeader,
  writeRecord as writeKafkaRecord,
} from './kafka/record-writer.js';
import { checkRecordSizes, headerBytes, largestRecord, recordTooLarge } from './record-size.js';
import type { AppendRecord, AppendResult, LogRecord, RecordHeaders } from './types.js';

const INITIAL_BYTES = 64 * 1024;

/** The batch layout a `RecordBuffer` encodes into: the target log's (`Log.bufferFormat`). */
export type RecordFormat = 'embedded' | 'kafka';

export interface RecordBufferOptions {
  /** Encode records at `add` (the target log has `appendBuffer`); else keep them as objects. */
  readonly encode: boolean;
  /** Objects mode: copy keys and values at `add` (the caller may reuse its bytes). */
  readonly copy: boolean;
  /** The layout to encode into (default `embedded`; `kafka` for the Kafka log). */
  readonly format?: RecordFormat;
}

/**
 * One Kafka v2 record batch of a `RecordBuffer` (`kafkaBatches`): `bytes` is the whole batch, a
 * view of the buffer, its header written but for the producer fields and CRC, which the produce
 * request writes (`writeProducerFields`); `count` records.
 */
export interface KafkaBatch {
  readonly bytes: Buffer;
  readonly count: number;
}

/**
 * The bytes of an encoded `RecordBuffer`, detached from it to move to another thread (the
 * `buffer` is transferable, `length` bytes of it used) and adopted there by `fromEncoded`.
 */
export interface EncodedRecords extends EncodedRecordsInfo {
  readonly buffer: ArrayBuffer;
}

/** What a `RecordBuffer`'s encoded bytes are, apart from the bytes (`length` of them are used). */
export interface EncodedRecordsInfo {
  readonly length: number;
  readonly count: number;
  readonly largest: number;
  readonly largestAt: number;
  /**
   * The CRC-32C of the records' bytes (all after the batch header), taken where they were encoded,
   * so that `seal` on the receiving side checksums only the header and combines.
   */
  readonly recordsCrc: number;
}

export class RecordBuffer {
  private buf: Buffer = Buffer.allocUnsafe(0);
  private pos = BATCH_HEADER_SIZE;
  private n = 0;
  /** The largest record's bytes (key, value, headers) and its index, encoded mode. */
  private largest = 0;
  private largestAt = 0;
  private objects: AppendRecord[] | undefined;
  /** `records()` handed out views of `buf`: `reset` must not reuse it (whoever took them may keep them). */
  private lent = false;
  /** The layout encoded into. */
  readonly format: RecordFormat;
  /**
   * Kafka format: the records are batches of at most MAX_BATCH_BYTES, each behind its own reserved
   * header; `batchAt` is where the last one starts and `batchFirst` its first record's index;
   * `closed` holds the earlier batches' ends and record counts, in pairs.
   */
  private batchAt = 0;
  private batchFirst = 0;
  private closed: number[] = [];
  /**
   * The CRC-32C of `buf[BATCH_HEADER_SIZE, recordsCrcEnd)` when it came with the bytes
   * (`fromEncoded`); `seal` uses it while no record was added since (`pos` is still there).
   */
  private recordsCrc: number | undefined;
  private recordsCrcEnd = 0;

  constructor(private readonly options: RecordBufferOptions) {
    this.format = options.format ?? 'embedded';
    if (this.format === 'kafka') this.pos = KAFKA_BATCH_HEADER_SIZE;
    if (!options.encode) this.objects = [];
  }

  /** Records added since the last `reset`. */
  get count(): number {
    return this.objects === undefined ? this.n : this.objects.length;
  }

  /** Encoded mode: the bytes written so far (records and batch headers); 0 in objects mode. */
  get byteLength(): number {
    return this.objects === undefined ? this.pos : 0;
  }

  /** True while the records are encoded (`seal` gives the batch); false once they are objects. */
  get encoded(): boolean {
    return this.objects === undefined;
  }

  /**
   * Encoded mode: hands the encoded records over (the buffer is this one's own, never a slice of a
   * shared pool, so it can be transferred) and empties this buffer, which allocates anew.
   */
  detach(): EncodedRecords {
    if (this.objects !== undefined || this.format !== 'embedded')
      throw new EddyError('EDDY_INTERNAL', 'RecordBuffer.detach: the records are not in the embedded layout');
    const e: EncodedRecords = { buffer: this.buf.buffer as ArrayBuffer, ...this.encodedInfo() };
    this.buf = Buffer.allocUnsafe(0);
    this.reset();
    return e;
  }

  /**
   * Encoded mode: copies the encoded records into `target` (at least `byteLength` long: a slot of a
   * buffer shared with another thread) and empties this buffer, which keeps its capacity.
   */
  copyOut(target: Uint8Array): EncodedRecordsInfo {
    if (this.objects !== undefined || this.format !== 'embedded')
      throw new EddyError(
        'EDDY_INTERNAL',
        'RecordBuffer.copyOut: the records are not in the embedded layout',
      );
    if (target.length < this.pos)
      throw new EddyError(
        'EDDY_INTERNAL',
        `RecordBuffer.copyOut: ${this.pos} bytes do not fit in ${target.length}`,
      );
    this.buf.copy(target, 0, 0, this.pos);
    const e = this.encodedInfo();
    this.reset();
    return e;
  }

  private encodedInfo(): EncodedRecordsInfo {
    return {
      length: this.pos,
      count: this.n,
      largest: this.largest,
      largestAt: this.largestAt,
      recordsCrc: crc32c(this.buf.subarray(BATCH_HEADER_SIZE, this.pos)),
    };
  }

  /**
   * A buffer holding the records `detach` handed over (in another thread), or those `copyOut`
   * copied into `bytes`.
   */
  static fromEncoded(e: EncodedRecords): RecordBuffer;
  static fromEncoded(e: EncodedRecordsInfo, bytes: Buffer): RecordBuffer;
  static fromEncoded(e: EncodedRecordsInfo & { buffer?: ArrayBuffer }, bytes?: Buffer): RecordBuffer {
    const b = new RecordBuffer({ encode: true, copy: false });
    b.buf = bytes ?? Buffer.from(e.buffer as ArrayBuffer, 0, (e.buffer as ArrayBuffer).byteLength);
    b.pos = e.length;
    b.n = e.count;
    b.largest = e.largest;
    b.largestAt = e.largestAt;
    b.recordsCrc = e.recordsCrc;
    b.recordsCrcEnd = e.length;
    return b;
  }

  /** Adds one record (see the modes above). */
  add(key: Uint8Array | null, value: Uint8Array | null, headers?: RecordHeaders, timestamp?: number): void {
    if (this.objects !== undefined || timestamp !== undefined) {
      this.addObject(key, value, headers, timestamp);
      return;
    }
    const n = this.n;
    if (this.format === 'kafka') this.addKafka(key, value, headers);
    else {
      const body = recordBodySize(n, 0, key, value, headers);
      const size = recordSize(body);
      if (this.pos + size > this.buf.length) this.grow(this.pos + size);
      this.pos = writeRecord(this.buf, this.pos, body, n, 0, key, value, headers);
    }
    let bytes = (key === null ? 0 : key.length) + (value === null ? 0 : value.length);
    if (headers !== undefined) bytes += headerBytes(headers);
    if (bytes > this.largest) {
      this.largest = bytes;
      this.largestAt = n;
    }
    this.n = n + 1;
  }

  /** Kafka format: one record into the last batch, or a new one when it would pass MAX_BATCH_BYTES. */
  private addKafka(
    key: Uint8Array | null,
    value: Uint8Array | null,
    headers: RecordHeaders | undefined,
  ): void {
    let delta = this.n - this.batchFirst;
    let body = kafkaRecordBodySize(delta, 0, key, value, headers);
    if (delta > 0 && this.pos - this.batchAt + kafkaVarintSize(body) + body > MAX_BATCH_BYTES) {
      this.closed.push(this.pos, delta);
      this.batchAt = this.pos;
      this.batchFirst = this.n;
      this.pos += KAFKA_BATCH_HEADER_SIZE;
      delta = 0;
      body = kafkaRecordBodySize(0, 0, key, value, headers);
    }
    const size = kafkaVarintSize(body) + body;
    if (this.pos + size > this.buf.length) this.grow(this.pos + size);
    this.pos = writeKafkaRecord(this.buf, this.pos, body, delta, 0, key, value, headers);
  }

  /**
   * Kafka format, encoded: the batches (one per MAX_BATCH_BYTES of records), their headers written
   * for timestamp `now` (every record's: none was given), all but the producer fields and the CRC.
   * Views of this buffer, valid until the next `add` or `reset`.
   */
  kafkaBatches(now: number): KafkaBatch[] {
    if (this.objects !== undefined || this.format !== 'kafka')
      throw new EddyError(
        'EDDY_INTERNAL',
        'RecordBuffer.kafkaBatches: the records are not in the Kafka layout',
      );
    const out: KafkaBatch[] = [];
    if (this.n === 0) return out;
    let start = 0;
    const closed = this.closed;
    for (let i = 0; i < closed.length; i += 2) {
      out.push(this.kafkaBatch(start, closed[i], closed[i + 1], now));
      start = closed[i];
    }
    out.push(this.kafkaBatch(start, this.pos, this.n - this.batchFirst, now));
    return out;
  }

  private kafkaBatch(start: number, end: number, count: number, now: number): KafkaBatch {
    writeKafkaBatchHeader(this.buf, start, end - start, count, now, now);
    return { bytes: this.buf.subarray(start, end), count };
  }

  /** Adds an `AppendRecord` (dead letters, records built elsewhere). */
  addRecord(r: AppendRecord): void {
    this.add(r.key ?? null, r.value, r.headers, r.timestamp);
  }

  /**
   * The records as `AppendRecord`s, without timestamps where none was given (for a log without
   * `appendBuffer`); encoded records come back as views of this buffer, valid until `reset`.
   */
  records(): AppendRecord[] {
    if (this.objects !== undefined) return this.objects;
    return this.decode();
  }

  /** The largest record (key, value and headers) and its index: what an error about sizes names. */
  largestRecord(): { bytes: number; index: number } {
    if (this.objects !== undefined) return largestRecord(this.objects);
    return { bytes: this.largest, index: this.largestAt };
  }

  /** Throws `RecordTooLargeError` when a record is over `limit` (nothing is appended then). */
  checkSizes(topic: string, partition: number, limit: number): void {
    if (this.objects !== undefined) {
      checkRecordSizes(topic, partition, this.objects, limit);
      return;
    }
    if (this.largest > limit) {
      const which = this.n === 1 ? 'the record' : `record ${this.largestAt} of ${this.n} of the append`;
      throw recordTooLarge(topic, partition, this.largest, limit, which);
    }
  }

  /**
   * Encoded mode: the whole batch for `baseOffset` (records without timestamps take `now`), its
   * header and CRC written: a view of this buffer, valid until the next `add` or `reset`.
   */
  seal(baseOffset: number, now: number, attributes: number): Buffer {
    if (this.objects !== undefined || this.format !== 'embedded')
      throw new EddyError('EDDY_INTERNAL', 'RecordBuffer.seal: the records are not in the embedded layout');
    const total = this.pos;
    writeBatchHeader(this.buf, total, baseOffset, attributes, this.n - 1, this.n, now, now);
    if (this.recordsCrc === undefined || this.recordsCrcEnd !== total) writeBatchCrc(this.buf, total);
    else {
      // the records' CRC came with them: only the header is checksummed here
      const header = crc32c(this.buf.subarray(4, BATCH_HEADER_SIZE));
      this.buf.writeUInt32LE(crc32cCombine(header, this.recordsCrc, total - BATCH_HEADER_SIZE), 0);
    }
    return this.buf.subarray(0, total);
  }

  /** Empties the buffer for reuse (encoded mode keeps its capacity unless it grew far past its use). */
  reset(): void {
    if (this.lent || (this.buf.length > 4 * this.pos && this.buf.length > 4 * INITIAL_BYTES)) {
      this.buf = Buffer.allocUnsafe(0);
      this.lent = false;
    }
    this.restart();
    this.largest = 0;
    this.largestAt = 0;
    this.objects = this.options.encode ? undefined : [];
  }

  /** Positions for the first record (the buffer's bytes are kept). */
  private restart(): void {
    this.pos = this.format === 'kafka' ? KAFKA_BATCH_HEADER_SIZE : BATCH_HEADER_SIZE;
    this.n = 0;
    this.batchAt = 0;
    this.batchFirst = 0;
    this.closed = [];
    this.recordsCrc = undefined;
  }

  private addObject(
    key: Uint8Array | null,
    value: Uint8Array | null,
    headers: RecordHeaders | undefined,
    timestamp: number | undefined,
  ): void {
    let objects = this.objects;
    if (objects === undefined) {
      // the first record with a timestamp: what is encoded so far becomes objects (views of the
      // old buffer, which is let go: later encodings would overwrite it)
      objects = this.decode();
      this.objects = objects;
      this.buf = Buffer.allocUnsafe(0);
      this.restart();
    }
    const copy = this.options.copy || !this.options.encode;
    const k = key === null ? null : copy ? Buffer.from(key) : asBuffer(key);
    const v = value === null ? null : copy ? Buffer.from(value) : asBuffer(value);
    const r: AppendRecord = { key: k, value: v };
    if (headers !== undefined) r.headers = headers;
    if (timestamp !== undefined) r.timestamp = timestamp;
    objects.push(r);
  }

  private decode(): AppendRecord[] {
    if (this.format === 'kafka') return this.decodeKafka();
    const out: LogRecord[] = [];
    if (this.n === 0) return out;
    writeBatchHeader(this.buf, this.pos, 0, 0, this.n - 1, this.n, 0, 0);
    this.lent = true;
    decodeRecords(
      this.buf,
      0,
      0,
      this.n,
      { records: this.n, bytes: Number.POSITIVE_INFINITY, tookAny: false },
      out,
    );
    // timestamps were not given: the append assigns them
    const records: AppendRecord[] = new Array(out.length);
    for (let i = 0; i < out.length; i++) {
      const r = out[i];
      records[i] = { key: r.key, value: r.value, headers: r.headers };
    }
    return records;
  }

  /** Kafka format: the records back as objects (views of this buffer), batch by batch. */
  private decodeKafka(): AppendRecord[] {
    const records: AppendRecord[] = new Array(this.n);
    if (this.n === 0) return records;
    this.lent = true;
    const r = new RecordReader(this.buf, KAFKA_BATCH_HEADER_SIZE);
    const closed = this.closed;
    let c = 0;
    for (let i = 0; i < this.n; i++) {
      if (c < closed.length && r.pos === closed[c]) {
        r.pos += KAFKA_BATCH_HEADER_SIZE; // the next batch's header
        c += 2;
      }
      r.varint(); // length
      r.pos++; // attributes
      r.varint(); // timestamp delta
      r.varint(); // offset delta
      const key = r.bytes();
      const value = r.bytes();
      const headerCount = r.varint();
      const record: AppendRecord = { key, value };
      if (headerCount > 0) record.headers = r.headers(headerCount);
      records[i] = record;
    }
    return records;
  }

  private grow(needed: number): void {
    let size = Math.max(INITIAL_BYTES, this.buf.length);
    while (size < needed) size *= 2;
    // its own ArrayBuffer (never the shared pool): `detach` may transfer it
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

/** What takes a `RecordBuffer`: a `Log` or a `LogTransaction`, with or without `appendBuffer`. */
export interface BufferAppendTarget {
  append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult>;
  appendBuffer?(topic: string, partition: number, records: RecordBuffer): Promise<AppendResult>;
}

/**
 * Appends `records` to `target`: as one encoded batch through `appendBuffer` when the target has
 * it and the records are encoded, else as `AppendRecord`s through `append`. The buffer must not be
 * changed until the promise settles.
 */
export function appendBuffered(
  target: BufferAppendTarget,
  topic: string,
  partition: number,
  records: RecordBuffer,
): Promise<AppendResult> {
  return target.appendBuffer !== undefined && records.encoded
    ? target.appendBuffer(topic, partition, records)
    : target.append(topic, partition, records.records());
}
