/**
 * The writer half of Kafka's v2 record batch layout (see `record-batch.ts` for the layout): zigzag
 * varints, one record, the fixed batch header and its CRC-32C. The one encoder of Kafka records in
 * Eddy: `encodeRecordBatch` (the client's messages) and `RecordBuffer`'s Kafka format (records
 * encoded at `send()` time, `Log.appendBuffer`) both write through it. No import of the client here,
 * so the embedded log's users do not load it through `RecordBuffer`.
 */
import { crc32c } from '../../util/crc32c.js';
import type { RecordHeaders } from '../types.js';

/** Bytes of the fixed batch header (baseOffset to recordCount). */
export const KAFKA_BATCH_HEADER_SIZE = 61;
/** baseOffset + batchLength: the bytes before what `batchLength` counts. */
export const KAFKA_BATCH_OVERHEAD = 12;
export const KAFKA_ATTR_TRANSACTIONAL = 0x10;
/**
 * The largest produce batch Eddy builds, in bytes of keys, values and headers (plus framing). The
 * broker refuses a batch over `message.max.bytes` (about 1 MB by default) with MESSAGE_TOO_LARGE:
 * a larger append goes out as several batches (a single larger record goes alone, and the broker
 * decides).
 */
export const MAX_BATCH_BYTES = 512 * 1024;

/** The bytes of `n` as a zigzag varint (exact to 2^53). */
export function varintSize(n: number): number {
  let u = n >= 0 ? n * 2 : -n * 2 - 1;
  if (u < 0x80) return 1;
  let size = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 0x80);
    size++;
  }
  return size;
}

/** Writes `n` as a zigzag varint at `pos`; the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  let u = n >= 0 ? n * 2 : -n * 2 - 1;
  while (u >= 0x80) {
    buf[pos++] = (u & 0x7f) | 0x80;
    u = Math.floor(u / 0x80);
  }
  buf[pos++] = u;
  return pos;
}

/** The bytes of a varint-length-prefixed byte string (null: length -1, one byte). */
export function bytesSize(b: Uint8Array | null | undefined): number {
  return b === null || b === undefined ? 1 : varintSize(b.length) + b.length;
}

/** Writes a varint-length-prefixed byte string (null: length -1). */
export function writeBytes(buf: Buffer, pos: number, b: Uint8Array | null | undefined): number {
  if (b === null || b === undefined) {
    buf[pos] = 1; // zigzag -1
    return pos + 1;
  }
  pos = writeVarint(buf, pos, b.length);
  buf.set(b, pos);
  return pos + b.length;
}

/**
 * The body of one record (what its length varint counts) before its headers: attributes, the two
 * deltas, key and value. Add the headers' bytes (`headersSize`, or the client's map) to it.
 */
export function recordStartSize(
  offsetDelta: number,
  timestampDelta: number,
  key: Uint8Array | null | undefined,
  value: Uint8Array | null | undefined,
): number {
  return 1 + varintSize(timestampDelta) + varintSize(offsetDelta) + bytesSize(key) + bytesSize(value);
}

/**
 * Writes one record up to its headers: its length (`bodySize`, headers included), attributes,
 * timestamp and offset deltas, key and value. The caller writes the header count and headers.
 */
export function writeRecordStart(
  buf: Buffer,
  pos: number,
  bodySize: number,
  offsetDelta: number,
  timestampDelta: number,
  key: Uint8Array | null | undefined,
  value: Uint8Array | null | undefined,
): number {
  pos = writeVarint(buf, pos, bodySize);
  buf[pos++] = 0; // attributes
  pos = writeVarint(buf, pos, timestampDelta);
  pos = writeVarint(buf, pos, offsetDelta);
  pos = writeBytes(buf, pos, key);
  return writeBytes(buf, pos, value);
}

/** The bytes of Eddy's `headers` in a record: the count, then each UTF-8 name and its value. */
export function headersSize(headers: RecordHeaders | undefined): number {
  if (headers === undefined) return 1;
  let count = 0;
  let size = 0;
  for (const name in headers) {
    const nameLen = Buffer.byteLength(name);
    const v = headers[name];
    size += varintSize(nameLen) + nameLen + varintSize(v.length) + v.length;
    count++;
  }
  return size + varintSize(count);
}

/** Writes Eddy's `headers` (their count first); the position after them. */
export function writeHeaders(buf: Buffer, pos: number, headers: RecordHeaders | undefined): number {
  if (headers === undefined) {
    buf[pos] = 0;
    return pos + 1;
  }
  let count = 0;
  for (const _ in headers) count++;
  pos = writeVarint(buf, pos, count);
  for (const name in headers) {
    const nameLen = Buffer.byteLength(name);
    pos = writeVarint(buf, pos, nameLen);
    pos += buf.write(name, pos, nameLen, 'utf8');
    pos = writeBytes(buf, pos, headers[name]);
  }
  return pos;
}

/**
 * The body of one record of Eddy's: what its length varint counts, headers included. The record
 * takes `varintSize(body) + body` bytes; `writeRecord` writes it from this figure.
 */
export function recordBodySize(
  offsetDelta: number,
  timestampDelta: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: RecordHeaders | undefined,
): number {
  return recordStartSize(offsetDelta, timestampDelta, key, value) + headersSize(headers);
}

/**
 * Writes one record of Eddy's at `pos`, `body` its `recordBodySize` (computed once by the caller,
 * which sized the room with it); the position after it.
 */
export function writeRecord(
  buf: Buffer,
  pos: number,
  body: number,
  offsetDelta: number,
  timestampDelta: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: RecordHeaders | undefined,
): number {
  pos = writeRecordStart(buf, pos, body, offsetDelta, timestampDelta, key, value);
  return writeHeaders(buf, pos, headers);
}

/**
 * Writes the fixed header of the batch `buf[pos, pos + total)` whose records follow it, all but
 * the producer fields (`writeProducerFields`) and the CRC (`writeBatchCrc`): base offset 0 (the
 * broker assigns it), length, partition leader epoch, magic 2, attributes, lastOffsetDelta,
 * timestamps, record count. Timestamps are milliseconds (exact integers).
 */
export function writeBatchHeader(
  buf: Buffer,
  pos: number,
  total: number,
  count: number,
  firstTimestamp: number,
  maxTimestamp: number,
  partitionLeaderEpoch = 0,
): void {
  buf.writeInt32BE(0, pos);
  buf.writeInt32BE(0, pos + 4);
  buf.writeInt32BE(total - KAFKA_BATCH_OVERHEAD, pos + 8);
  buf.writeInt32BE(partitionLeaderEpoch, pos + 12);
  buf[pos + 16] = 2;
  buf.writeInt16BE(0, pos + 21);
  buf.writeInt32BE(count - 1, pos + 23);
  writeInt64(buf, pos + 27, firstTimestamp);
  writeInt64(buf, pos + 35, maxTimestamp);
  buf.writeInt32BE(count, pos + 57);
}

/**
 * Writes the idempotence fields of the batch at `pos` (producer id and epoch, base sequence, the
 * transactional attribute: what is known only when the produce request is made) and its CRC-32C.
 */
export function writeProducerFields(
  buf: Buffer,
  pos: number,
  producerId: bigint,
  producerEpoch: number,
  firstSequence: number,
  transactional: boolean,
): void {
  buf.writeInt16BE(transactional ? KAFKA_ATTR_TRANSACTIONAL : 0, pos + 21);
  buf.writeBigInt64BE(producerId, pos + 43);
  buf.writeInt16BE(producerEpoch, pos + 51);
  buf.writeInt32BE(firstSequence, pos + 53);
  writeBatchCrc(buf, pos, pos + KAFKA_BATCH_OVERHEAD + buf.readInt32BE(pos + 8));
}

/** Writes the CRC-32C of the batch `buf[pos, end)` (over attributes to the end). */
export function writeBatchCrc(buf: Buffer, pos: number, end: number): void {
  buf.writeUInt32BE(crc32c(buf.subarray(pos + 21, end)), pos + 17);
}

const TWO_32 = 0x1_0000_0000;

/** Writes a signed int64 from a number (exact below 2^53). */
function writeInt64(buf: Buffer, pos: number, v: number): void {
  const high = Math.floor(v / TWO_32);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(v - high * TWO_32, pos + 4);
}
