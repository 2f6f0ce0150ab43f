/**
 * Record batches: the unit the embedded log writes, checksums and reads. One `append` of N records
 * writes exactly one batch. The format is Kafka-like (a fixed header, CRC-32C over the rest,
 * varint-framed records) but simpler, and little-endian.
 *
 * Batch layout (byte offsets; all integers little-endian; u64 are unsigned < 2^53):
 *
 * ```
 *  0  u32  crc              CRC-32C (Castagnoli) of bytes [4, batchLength)
 *  4  u32  batchLength      bytes of the whole batch, header included (>= 44)
 *  8  u64  baseOffset       offset of the batch's first offset slot
 * 16  u8   magic            1
 * 17  u8   attributes       bit 0: written inside a transaction (informative only)
 * 18  u16  reserved         0
 * 20  u32  lastOffsetDelta  the batch covers offsets baseOffset … baseOffset + lastOffsetDelta
 * 24  u32  recordCount      records actually present (fewer than lastOffsetDelta + 1 after compaction)
 * 28  u64  baseTimestamp    smallest record timestamp (ms since the epoch)
 * 36  u64  maxTimestamp     largest record timestamp
 * 44  records, recordCount times:
 *       varint  bodyLength       bytes of the record after this varint
 *       varint  offsetDelta      record offset - baseOffset
 *       varint  timestampDelta   record timestamp - baseTimestamp
 *       varint  keyLength + 1    0: null key
 *       bytes   key
 *       varint  valueLength + 1  0: null value (a tombstone)
 *       bytes   value
 *       varint  headerCount
 *       headerCount times: varint nameLength, UTF-8 name, varint valueLength, value bytes
 * ```
 *
 * Varints are unsigned LEB128 (7 bits a byte, low first), up to 2^53. The CRC covers the length and
 * the base offset, so a batch copied to the wrong place or a torn length is detected. A region of
 * zeros (a file extended but never written) fails the length check. Decoded records reference the
 * buffer they were read from (zero-copy `subarray`s); headers of a record without headers are one
 * shared frozen empty object.
 *
 * Corner cases: negative or non-integer timestamps are rejected; a batch can hold gaps (compaction
 * keeps offsets), so readers use `offsetDelta`, never the record's index.
 */
import { crc32c } from '../../util/crc32c.js';
import { InvalidArgumentError } from '../../util/errors.js';
import type { AppendRecord, LogRecord, RecordBatches, RecordHeaders } from '../types.js';

export const BATCH_HEADER_SIZE = 44;
export const BATCH_MAGIC = 1;
/** Attribute bit: the batch was written inside a transaction. */
export const ATTR_TRANSACTIONAL = 1;

const TWO_32 = 0x1_0000_0000;
const EMPTY_HEADERS: RecordHeaders = Object.freeze({});

/** The decoded fixed header of a batch. */
export interface BatchHeader {
  crc: number;
  batchLength: number;
  baseOffset: number;
  magic: number;
  attributes: number;
  lastOffsetDelta: number;
  recordCount: number;
  baseTimestamp: number;
  maxTimestamp: number;
}

function varintSize(v: number): number {
  if (v < 128) return 1;
  if (v < 16384) return 2;
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  if (v < 128) {
    buf[pos] = v;
    return pos + 1;
  }
  while (v >= 128) {
    buf[pos++] = (v & 127) | 128;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function writeU64(buf: Buffer, pos: number, v: number): void {
  buf.writeUInt32LE(v % TWO_32, pos);
  buf.writeUInt32LE(Math.floor(v / TWO_32), pos + 4);
}

function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32LE(pos) + buf.readUInt32LE(pos + 4) * TWO_32;
}

/** What `encodeBatch` needs of a record: an `AppendRecord`, or a `LogRecord` (compaction). */
type EncodableRecord = AppendRecord & { offset?: number };

function checkTimestamp(ts: number): number {
  if (!Number.isSafeInteger(ts) || ts < 0) {
    throw new InvalidArgumentError(`record timestamp ${ts} is not a non-negative integer of milliseconds`);
  }
  return ts;
}

let scratch: Buffer = Buffer.allocUnsafe(1024 * 1024);

/** `scratch` grown to hold `needed` bytes, keeping its first `used` bytes. */
function growScratch(needed: number, used: number): Buffer {
  let size = scratch.length;
  while (size < needed) size *= 2;
  const next = Buffer.allocUnsafe(size);
  scratch.copy(next, 0, 0, used);
  scratch = next;
  return next;
}

function headersSize(headers: RecordHeaders): number {
  const names = Object.keys(headers);
  let size = varintSize(names.length);
  for (const name of names) {
    const nameLen = Buffer.byteLength(name);
    const hv = headers[name];
    size += varintSize(nameLen) + nameLen + varintSize(hv.length) + hv.length;
  }
  return size;
}

/**
 * The bytes one record takes: its body (`recordBodySize`) and the body's length varint. Callers
 * that then write the record compute the body once and pass it to `writeRecord`.
 */
export function recordSize(body: number): number {
  return varintSize(body) + body;
}

/** What one record's length varint counts: everything of the record after it. */
export function recordBodySize(
  delta: number,
  tsDelta: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: RecordHeaders | undefined,
): number {
  return (
    varintSize(delta) +
    varintSize(tsDelta) +
    (key === null ? 1 : varintSize(key.length + 1) + key.length) +
    (value === null ? 1 : varintSize(value.length + 1) + value.length) +
    (headers === undefined || headers === EMPTY_HEADERS ? 1 : headersSize(headers))
  );
}

/**
 * Writes one record at `pos` in the batch layout above, `body` its `recordBodySize` (the caller
 * made room: `recordSize(body)`); returns the position after it. The one encoder of a record, used
 * by `encodeBatch` and `RecordBuffer`.
 */
export function writeRecord(
  buf: Buffer,
  pos: number,
  body: number,
  delta: number,
  tsDelta: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: RecordHeaders | undefined,
): number {
  const noHeaders = headers === undefined || headers === EMPTY_HEADERS || isEmpty(headers);
  pos = writeVarint(buf, pos, body);
  pos = writeVarint(buf, pos, delta);
  pos = writeVarint(buf, pos, tsDelta);
  if (key === null) buf[pos++] = 0;
  else {
    pos = writeVarint(buf, pos, key.length + 1);
    buf.set(key, pos);
    pos += key.length;
  }
  if (value === null) buf[pos++] = 0;
  else {
    pos = writeVarint(buf, pos, value.length + 1);
    buf.set(value, pos);
    pos += value.length;
  }
  if (noHeaders) buf[pos++] = 0;
  else {
    const names = Object.keys(headers);
    pos = writeVarint(buf, pos, names.length);
    for (const name of names) {
      const nameLen = Buffer.byteLength(name);
      pos = writeVarint(buf, pos, nameLen);
      pos += buf.write(name, pos, nameLen, 'utf8');
      const hv = headers[name];
      pos = writeVarint(buf, pos, hv.length);
      buf.set(hv, pos);
      pos += hv.length;
    }
  }
  return pos;
}

function isEmpty(headers: RecordHeaders): boolean {
  for (const _ in headers) return false;
  return true;
}

/** Writes the CRC of the batch of `total` bytes at the start of `buf` (its header written). */
export function writeBatchCrc(buf: Buffer, total: number): void {
  buf.writeUInt32LE(crc32c(buf.subarray(4, total)), 0);
}

/**
 * Writes the fixed header of the batch whose records fill `buf[BATCH_HEADER_SIZE, total)`, all but
 * the CRC (`writeBatchCrc`; the header alone is enough for `decodeRecords`). `baseTimestamp` is
 * the records' smallest timestamp (their deltas are from it).
 */
export function writeBatchHeader(
  buf: Buffer,
  total: number,
  baseOffset: number,
  attributes: number,
  lastOffsetDelta: number,
  recordCount: number,
  baseTimestamp: number,
  maxTimestamp: number,
): void {
  if (total >= TWO_32) throw new InvalidArgumentError(`a batch of ${total} bytes is larger than 4 GiB`);
  buf.writeUInt32LE(total, 4);
  writeU64(buf, 8, baseOffset);
  buf[16] = BATCH_MAGIC;
  buf[17] = attributes;
  buf.writeUInt16LE(0, 18);
  buf.writeUInt32LE(Math.max(0, lastOffsetDelta), 20);
  buf.writeUInt32LE(recordCount, 24);
  writeU64(buf, 28, baseTimestamp);
  writeU64(buf, 36, maxTimestamp);
}

/**
 * Encodes one batch. Record i gets offset `baseOffset + i` (appends), or with `keepOffsets` its own
 * `offset` (compaction, truncation), `lastOffset` then setting the last offset the batch covers.
 * `now` is the timestamp of records that carry none. With `scratch` the result is a view of a
 * shared buffer, valid only until the next `encodeBatch` call (for an immediate write); otherwise a
 * fresh Buffer of its own.
 */
export function encodeBatch(
  baseOffset: number,
  records: readonly EncodableRecord[],
  options: {
    now: number;
    attributes?: number;
    keepOffsets?: boolean;
    lastOffset?: number;
    scratch?: boolean;
  },
): Buffer {
  const n = records.length;
  const now = options.now;
  const keepOffsets = options.keepOffsets === true;
  let minTs = Number.MAX_SAFE_INTEGER;
  let maxTs = 0;
  for (let i = 0; i < n; i++) {
    const ts = records[i].timestamp;
    const t = ts === undefined ? now : checkTimestamp(ts);
    if (t < minTs) minTs = t;
    if (t > maxTs) maxTs = t;
  }
  if (n === 0) minTs = maxTs = now;
  let buf: Buffer = scratch;
  let pos = BATCH_HEADER_SIZE;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    const key = r.key ?? null;
    const value = r.value;
    const headers = r.headers;
    const delta = keepOffsets ? (r.offset as number) - baseOffset : i;
    const tsDelta = (r.timestamp ?? now) - minTs;
    const body = recordBodySize(delta, tsDelta, key, value, headers);
    const size = recordSize(body);
    if (pos + size > buf.length) buf = growScratch(pos + size, pos);
    pos = writeRecord(buf, pos, body, delta, tsDelta, key, value, headers);
  }
  const lastOffsetDelta = keepOffsets ? (options.lastOffset ?? baseOffset + n - 1) - baseOffset : n - 1;
  const total = pos;
  writeBatchHeader(buf, total, baseOffset, options.attributes ?? 0, lastOffsetDelta, n, minTs, maxTs);
  writeBatchCrc(buf, total);
  return options.scratch === true ? buf.subarray(0, total) : Buffer.from(buf.subarray(0, total));
}

/** Decodes the fixed header at `pos` (the caller made sure 44 bytes are there). */
export function readBatchHeader(buf: Buffer, pos: number): BatchHeader {
  return {
    crc: buf.readUInt32LE(pos),
    batchLength: buf.readUInt32LE(pos + 4),
    baseOffset: readU64(buf, pos + 8),
    magic: buf[pos + 16],
    attributes: buf[pos + 17],
    lastOffsetDelta: buf.readUInt32LE(pos + 20),
    recordCount: buf.readUInt32LE(pos + 24),
    baseTimestamp: readU64(buf, pos + 28),
    maxTimestamp: readU64(buf, pos + 36),
  };
}

/** The batch's length field at `pos`, 0 when the header is implausible (bad magic or length). */
export function plausibleBatchLength(buf: Buffer, pos: number): number {
  if (buf[pos + 16] !== BATCH_MAGIC) return 0;
  const len = buf.readUInt32LE(pos + 4);
  return len >= BATCH_HEADER_SIZE ? len : 0;
}

/** True when the batch at `pos` (whose `batchLength` bytes are all in `buf`) has a correct CRC. */
export function batchCrcOk(buf: Buffer, pos: number, batchLength: number): boolean {
  return crc32c(buf.subarray(pos + 4, pos + batchLength)) === buf.readUInt32LE(pos);
}

/** The mutable cursor of `decodeRecords` (one per call, reused across records). */
class Cursor {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(): number {
    const buf = this.buf;
    let b = buf[this.pos++];
    let v = b & 127;
    let mul = 128;
    while (b >= 128) {
      b = buf[this.pos++];
      v += (b & 127) * mul;
      mul *= 128;
    }
    return v;
  }
}

/** The budget of a read, updated by `decodeRecords`. */
export interface ReadBudget {
  /** Records still allowed. */
  records: number;
  /** Bytes (of encoded record bodies) still allowed; may go negative by the first record. */
  bytes: number;
  /** True once a record was taken (the "at least one record" rule applies only before). */
  tookAny: boolean;
}

/**
 * Decodes the records of the batch at `pos` whose offsets are in [`from`, `until`), appending them
 * to `out` while `budget` allows. Returns false when the budget stopped it before the batch's end.
 */
export function decodeRecords(
  buf: Buffer,
  pos: number,
  from: number,
  until: number,
  budget: ReadBudget,
  out: LogRecord[],
): boolean {
  const baseOffset = readU64(buf, pos + 8);
  const count = buf.readUInt32LE(pos + 24);
  const baseTimestamp = readU64(buf, pos + 28);
  const c = new Cursor(buf);
  c.pos = pos + BATCH_HEADER_SIZE;
  for (let i = 0; i < count; i++) {
    const bodyLength = c.varint();
    const next = c.pos + bodyLength;
    const offset = baseOffset + c.varint();
    if (offset < from) {
      c.pos = next;
      continue;
    }
    if (offset >= until) return true;
    if (budget.records <= 0 || (budget.tookAny && budget.bytes < bodyLength)) return false;
    out.push(decodeRecord(c, offset, baseTimestamp));
    budget.records--;
    budget.bytes -= bodyLength;
    budget.tookAny = true;
    c.pos = next;
  }
  return true;
}

/** The record after its length and offset delta at `c.pos` (its bytes are views of `c.buf`). */
function decodeRecord(c: Cursor, offset: number, baseTimestamp: number): LogRecord {
  const buf = c.buf;
  const timestamp = baseTimestamp + c.varint();
  let len = c.varint();
  let key: Buffer | null = null;
  if (len > 0) {
    key = buf.subarray(c.pos, c.pos + len - 1);
    c.pos += len - 1;
  }
  len = c.varint();
  let value: Buffer | null = null;
  if (len > 0) {
    value = buf.subarray(c.pos, c.pos + len - 1);
    c.pos += len - 1;
  }
  const headerCount = c.varint();
  let headers = EMPTY_HEADERS;
  if (headerCount > 0) {
    const h: Record<string, Buffer> = {};
    for (let j = 0; j < headerCount; j++) {
      const nameLen = c.varint();
      const name = buf.toString('utf8', c.pos, c.pos + nameLen);
      c.pos += nameLen;
      const vLen = c.varint();
      h[name] = buf.subarray(c.pos, c.pos + vLen);
      c.pos += vLen;
    }
    headers = h;
  }
  return { offset, timestamp, key, value, headers };
}

/**
 * The records of `batches` (from `Log.readBatches`) at offsets in [`from`, `until`), decoded a
 * slice at a time (`take`), in order; their bytes are views of its buffer.
 *
 * Why slices: a read is thousands of records (a 5,000-record batch as a producer wrote it), and
 * decoded at once their objects lived until the task got through them, long enough for the young
 * generation's collections to copy and promote them. Decoded as the task takes them, they die young.
 */
export class BatchDecoder {
  private readonly c: Cursor;
  private readonly length: number;
  private readonly from: number;
  private readonly until: number;
  /** The current batch: records left in it, its base offset and timestamp. */
  private left = 0;
  private baseOffset = 0;
  private baseTimestamp = 0;
  /** Where the next batch starts. */
  private nextBatch = 0;
  private peeked: LogRecord[] | undefined;
  /** Where the next read starts: past the last batch, or the visible end if that is before. */
  readonly nextOffset: number;

  constructor(batches: RecordBatches) {
    const buf = Buffer.from(batches.buffer, batches.byteOffset ?? 0, batches.length);
    this.c = new Cursor(buf);
    this.length = batches.length;
    this.from = batches.from;
    this.until = batches.until;
    let end = batches.from;
    for (let p = 0; p + BATCH_HEADER_SIZE <= this.length; p += buf.readUInt32LE(p + 4)) {
      end = readU64(buf, p + 8) + buf.readUInt32LE(p + 20) + 1;
    }
    this.nextOffset = Math.min(end, batches.until);
  }

  /** True when there is a record to take (decodes the first slice of `max`). */
  hasRecords(max: number): boolean {
    this.peeked ??= this.take(max);
    return this.peeked.length > 0;
  }

  /** The next records, at most `max`; fewer only at the end, none past it. */
  take(max: number): LogRecord[] {
    const peeked = this.peeked;
    if (peeked !== undefined) {
      this.peeked = undefined;
      return peeked;
    }
    const out: LogRecord[] = [];
    const c = this.c;
    const buf = c.buf;
    while (out.length < max) {
      if (this.left === 0) {
        const p = this.nextBatch;
        if (p + BATCH_HEADER_SIZE > this.length) break;
        this.nextBatch = p + buf.readUInt32LE(p + 4);
        this.baseOffset = readU64(buf, p + 8);
        this.left = buf.readUInt32LE(p + 24);
        this.baseTimestamp = readU64(buf, p + 28);
        c.pos = p + BATCH_HEADER_SIZE;
        continue;
      }
      this.left--;
      const bodyLength = c.varint();
      const next = c.pos + bodyLength;
      const offset = this.baseOffset + c.varint();
      if (offset >= this.until) {
        this.left = 0;
        this.nextBatch = this.length;
        break;
      }
      if (offset >= this.from) out.push(decodeRecord(c, offset, this.baseTimestamp));
      c.pos = next;
    }
    return out;
  }
}

/**
 * The records of `batches` (from `Log.readBatches`) at offsets in [`from`, `until`), in order; their
 * bytes are views of its buffer. The batches were CRC-checked when they were read.
 */
export function decodeBatches(batches: RecordBatches): LogRecord[] {
  return new BatchDecoder(batches).take(Number.POSITIVE_INFINITY);
}
