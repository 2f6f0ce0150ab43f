/**
 * The control socket's wire format: a stream of frames, each one request or one response.
 *
 *   u32 BE header length | u32 BE payload length | header (JSON, UTF-8) | payload (bytes)
 *
 * A request header is `{ op, ...arguments }`; its response header is `{ ok: true, result }` or
 * `{ ok: false, error: { code, message, retriable } }`. Requests on one connection are answered in
 * order. The payload carries bulk bytes that JSON would bloat: the records of an `append`, encoded
 * by `encodeRecords` (already routed to their partitions):
 *
 *   per record: u32 partition | i32 key length (-1: null) | key | i32 value length (-1: tombstone)
 *               | value | f64 timestamp (NaN: none) | u16 header count
 *               | per header: u16 name length | name (UTF-8) | u32 value length | value
 *
 * A frame larger than `MAX_FRAME_BYTES`, or one that does not parse, is a `ControlError`, and the
 * connection is closed.
 */
import type { AppendRecord } from '../../log/types.js';
import { ControlError } from '../../util/errors.js';

/** Largest header or payload accepted (a produce's whole input travels in one frame). */
export const MAX_FRAME_BYTES = 1024 * 1024 * 1024;

export interface Frame {
  header: Record<string, unknown>;
  payload: Buffer;
}

/** Encodes one frame. */
export function encodeFrame(header: object, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeUInt32BE(h.length, 0);
  prefix.writeUInt32BE(payload.length, 4);
  return Buffer.concat([prefix, h, payload]);
}

/** Cuts a byte stream into frames: `push` each chunk, then take the frames completed so far. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Adds a chunk; returns the frames it completed (possibly none). Throws `ControlError` on a bad frame. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.buffered >= 8) {
      if (this.chunks[0].length < 8) this.chunks = [Buffer.concat(this.chunks)];
      const first = this.chunks[0];
      const headerLength = first.readUInt32BE(0);
      const payloadLength = first.readUInt32BE(4);
      if (headerLength > MAX_FRAME_BYTES || payloadLength > MAX_FRAME_BYTES) {
        throw new ControlError(`control frame too large (${headerLength} + ${payloadLength} bytes)`);
      }
      const end = 8 + headerLength + payloadLength;
      if (this.buffered < end) break; // concatenated once, when the frame is complete
      const data = this.chunks.length === 1 ? first : Buffer.concat(this.chunks);
      let header: unknown;
      try {
        header = JSON.parse(data.toString('utf8', 8, 8 + headerLength));
      } catch (err) {
        throw new ControlError('control frame header is not JSON', { cause: err });
      }
      if (header === null || typeof header !== 'object' || Array.isArray(header)) {
        throw new ControlError('control frame header is not an object');
      }
      frames.push({
        header: header as Record<string, unknown>,
        payload: data.subarray(8 + headerLength, end),
      });
      const rest = data.subarray(end);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }
}

/** A record routed to its partition. */
export interface RoutedRecord extends AppendRecord {
  partition: number;
}

/** Encodes routed records into one payload (see the file comment). */
export function encodeRecords(records: readonly RoutedRecord[]): Buffer {
  let size = 0;
  const names: Buffer[][] = [];
  for (const r of records) {
    size += 4 + 4 + (r.key?.length ?? 0) + 4 + (r.value?.length ?? 0) + 8 + 2;
    const hn: Buffer[] = [];
    for (const [name, value] of Object.entries(r.headers ?? {})) {
      const n = Buffer.from(name, 'utf8');
      hn.push(n);
      size += 2 + n.length + 4 + value.length;
    }
    names.push(hn);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    at = out.writeUInt32BE(r.partition, at);
    if (r.key == null) at = out.writeInt32BE(-1, at);
    else {
      at = out.writeInt32BE(r.key.length, at);
      at += r.key.copy(out, at);
    }
    if (r.value === null) at = out.writeInt32BE(-1, at);
    else {
      at = out.writeInt32BE(r.value.length, at);
      at += r.value.copy(out, at);
    }
    at = out.writeDoubleBE(r.timestamp ?? Number.NaN, at);
    const headers = Object.values(r.headers ?? {});
    at = out.writeUInt16BE(headers.length, at);
    for (let h = 0; h < headers.length; h++) {
      const n = names[i][h];
      at = out.writeUInt16BE(n.length, at);
      at += n.copy(out, at);
      at = out.writeUInt32BE(headers[h].length, at);
      at += headers[h].copy(out, at);
    }
  }
  return out;
}

/** Decodes `encodeRecords`' payload; throws `ControlError` when it is cut short. */
export function decodeRecords(data: Buffer): RoutedRecord[] {
  const out: RoutedRecord[] = [];
  let at = 0;
  const need = (n: number): void => {
    if (at + n > data.length)
      throw new ControlError(`control payload cut short at byte ${at} (record ${out.length})`);
  };
  const bytes = (n: number): Buffer => {
    need(n);
    const b = Buffer.from(data.subarray(at, at + n));
    at += n;
    return b;
  };
  while (at < data.length) {
    need(8);
    const partition = data.readUInt32BE(at);
    const keyLength = data.readInt32BE(at + 4);
    at += 8;
    const key = keyLength < 0 ? null : bytes(keyLength);
    need(4);
    const valueLength = data.readInt32BE(at);
    at += 4;
    const value = valueLength < 0 ? null : bytes(valueLength);
    need(10);
    const timestamp = data.readDoubleBE(at);
    const count = data.readUInt16BE(at + 8);
    at += 10;
    const record: RoutedRecord = { partition, key, value };
    if (!Number.isNaN(timestamp)) record.timestamp = timestamp;
    if (count > 0) {
      const headers: Record<string, Buffer> = {};
      for (let h = 0; h < count; h++) {
        need(2);
        const nameLength = data.readUInt16BE(at);
        at += 2;
        const name = bytes(nameLength).toString('utf8');
        need(4);
        const valueLen = data.readUInt32BE(at);
        at += 4;
        headers[name] = bytes(valueLen);
      }
      record.headers = headers;
    }
    out.push(record);
  }
  return out;
}
