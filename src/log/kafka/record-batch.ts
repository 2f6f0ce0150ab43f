/**
 * Kafka record batches (magic v2, the only format Kafka 3.x/4.x brokers store), decoded straight
 * from a fetch response's bytes: the fixed header by field offset, records by a plain varint loop,
 * keys and values as zero-copy `subarray`s of the response. Every batch's CRC-32C (over attributes
 * to the end) is checked, as Kafka's Java consumer does by default (`check.crcs`).
 *
 * Batch layout (big-endian; see Kafka's `DefaultRecordBatch`):
 *
 * ```
 *  0 int64 baseOffset      8 int32 batchLength (bytes after this field)  12 int32 partitionLeaderEpoch
 * 16 int8  magic (2)      17 uint32 crc         21 int16 attributes     23 int32 lastOffsetDelta
 * 27 int64 baseTimestamp  35 int64 maxTimestamp 43 int64 producerId     51 int16 producerEpoch
 * 53 int32 baseSequence   57 int32 recordCount  61 records (compressed as one block if attributes & 7)
 * record: varint length, int8 attributes, varlong timestampDelta, varint offsetDelta,
 *         varint keyLength (-1 null), key, varint valueLength (-1 null), value,
 *         varint headerCount, headers (varint nameLength, name, varint valueLength, value)
 * ```
 *
 * Varints are zigzag-encoded (signed). A fetched batch's check (magic, CRC) and inflation (a
 * compressed batch: gzip, snappy, lz4, zstd) are `batch-records.ts`, apart, as they need the Kafka
 * client's codecs: this module comes with every `RecordBuffer`, the client only with the Kafka
 * backend.
 */
import type { RecordHeaders } from '../types.js';
import {
  bytesSize,
  KAFKA_BATCH_HEADER_SIZE,
  KAFKA_BATCH_OVERHEAD,
  recordStartSize,
  varintSize,
  writeBatchHeader,
  writeBytes,
  writeProducerFields,
  writeRecordStart,
  writeVarint,
} from './record-writer.js';

export const BATCH_OVERHEAD = KAFKA_BATCH_OVERHEAD;
export const BATCH_HEADER_SIZE = KAFKA_BATCH_HEADER_SIZE;
export const ATTR_COMPRESSION = 0x07;
export const ATTR_TRANSACTIONAL = 0x10;
export const ATTR_CONTROL = 0x20;

const TWO_32 = 0x1_0000_0000;
export const EMPTY_HEADERS: RecordHeaders = Object.freeze({});

/** A signed big-endian int64 at `pos`, as a number (exact below 2^53). */
export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

/**
 * The byte length of the complete batch at `pos` (header included), or -1 when the rest of `buf`
 * holds only part of one (a broker may cut the last batch of a fetch short).
 */
export function completeBatchLength(buf: Buffer, pos: number): number {
  if (buf.length - pos < BATCH_HEADER_SIZE) return -1;
  const length = BATCH_OVERHEAD + buf.readInt32BE(pos + 8);
  return pos + length <= buf.length ? length : -1;
}

/** A position in a records block, with zigzag varint reads. */
export class RecordReader {
  pos = 0;
  buf: Buffer;

  constructor(buf: Buffer, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  /** A zigzag varint or varlong (exact to 2^53). */
  varint(): number {
    const buf = this.buf;
    let b = buf[this.pos++];
    if (b < 0x80) return (b >>> 1) ^ -(b & 1);
    if (b === undefined) throw new RangeError('truncated record');
    let u = b & 0x7f;
    let scale = 0x80;
    for (;;) {
      b = buf[this.pos++];
      if (b === undefined) throw new RangeError('truncated record');
      u += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
    }
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  /** Bytes of a varint length (-1: null), as a view of the block. */
  bytes(): Buffer | null {
    const len = this.varint();
    if (len < 0) return null;
    const start = this.pos;
    this.pos += len;
    return this.buf.subarray(start, this.pos);
  }

  headers(count: number): RecordHeaders {
    const h: Record<string, Buffer> = {};
    for (let i = 0; i < count; i++) {
      const nameLen = this.varint();
      const name = this.buf.toString('utf8', this.pos, this.pos + Math.max(0, nameLen));
      this.pos += Math.max(0, nameLen);
      h[name] = this.bytes() ?? EMPTY_VALUE;
    }
    return h;
  }
}

const EMPTY_VALUE = Buffer.alloc(0);

/** A record as the client's producer hands it to its Produce request (serialized). */
export interface OutgoingRecord {
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: Map<Buffer, Buffer | null>;
  /** Milliseconds; the batch's first record's (or now) when missing; set by `encodeRecordBatch`. */
  timestamp?: bigint;
}

export interface BatchOptions {
  producerId?: bigint;
  producerEpoch?: number;
  firstSequence?: number;
  transactional?: boolean;
  partitionLeaderEpoch?: number;
}

/**
 * One uncompressed v2 record batch of `records`, in one buffer sized up front: the bytes Kafka's
 * client (`createRecordsBatch`) writes, without its buffer list, per-record writers and copies.
 * Records without a timestamp get the current time; each record's `timestamp` is set to the one
 * written (the client does the same; a retried request then carries the same timestamps).
 */
export function encodeRecordBatch(records: OutgoingRecord[], options: BatchOptions = {}): Buffer {
  const now = BigInt(Date.now());
  const first = records[0].timestamp ?? now;
  let max = first;
  const sizes = new Array<number>(records.length);
  let total = BATCH_HEADER_SIZE;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const ts = r.timestamp ?? now;
    r.timestamp = ts;
    if (ts > max) max = ts;
    let size = recordStartSize(i, Number(ts - first), r.key, r.value);
    const headers = r.headers;
    size += varintSize(headers === undefined ? 0 : headers.size);
    if (headers !== undefined) for (const [k, v] of headers) size += bytesSize(k) + bytesSize(v);
    sizes[i] = size;
    total += varintSize(size) + size;
  }
  const buf = Buffer.allocUnsafe(total);
  writeBatchHeader(
    buf,
    0,
    total,
    records.length,
    Number(first),
    Number(max),
    options.partitionLeaderEpoch ?? 0,
  );
  let pos = BATCH_HEADER_SIZE;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    pos = writeRecordStart(buf, pos, sizes[i], i, Number((r.timestamp as bigint) - first), r.key, r.value);
    const headers = r.headers;
    pos = writeVarint(buf, pos, headers === undefined ? 0 : headers.size);
    if (headers !== undefined) {
      for (const [k, v] of headers) {
        pos = writeBytes(buf, pos, k);
        pos = writeBytes(buf, pos, v);
      }
    }
  }
  writeProducerFields(
    buf,
    0,
    options.producerId ?? -1n,
    options.producerEpoch ?? 0,
    options.firstSequence ?? 0,
    options.transactional === true,
  );
  return buf;
}
