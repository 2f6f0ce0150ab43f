/**
 * Record batches as one `ArrayBuffer`, the unit the log owner and the task threads move between
 * them (a read's records, a flush's appends): one buffer per batch, transferred (moved, not copied)
 * by `postMessage`, never one message per record. Decoding makes `Buffer` views of that buffer:
 * keys, values and header values of a decoded batch share its memory (no per-record copy).
 *
 * Layout (little endian): `u32 count`, then per record
 * `f64 offset, f64 timestamp, i32 keyLength, i32 valueLength, u16 headerCount`,
 * `headerCount × (u16 nameLength, name UTF-8, u32 valueLength, value)`, the key, the value.
 * A length of -1 is `null`; an append's missing timestamp is -1 (the log stamps it) and its offset 0.
 */
import type { AppendRecord, LogRecord, RecordHeaders } from '../../log/types.js';

const FIXED = 8 + 8 + 4 + 4 + 2;
const NO_HEADERS: RecordHeaders = Object.freeze({});

function headerNames(headers: RecordHeaders | undefined): string[] | undefined {
  if (headers === undefined) return undefined;
  let names: string[] | undefined;
  for (const name in headers) (names ??= []).push(name);
  return names;
}

/** Encodes `records` (read records or records to append) into one buffer. */
export function encodeRecords(records: readonly (LogRecord | AppendRecord)[]): ArrayBuffer {
  const n = records.length;
  let size = 4;
  let names: (string[] | undefined)[] | undefined;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    size += FIXED + (r.key?.length ?? 0) + (r.value?.length ?? 0);
    const h = headerNames(r.headers);
    if (h !== undefined) {
      (names ??= new Array(n))[i] = h;
      for (const name of h) size += 6 + Buffer.byteLength(name) + (r.headers as RecordHeaders)[name].length;
    }
  }
  const buffer = new ArrayBuffer(size);
  const view = new DataView(buffer);
  const bytes = Buffer.from(buffer);
  view.setUint32(0, n, true);
  let at = 4;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    const key = r.key ?? null;
    const value = r.value;
    view.setFloat64(at, (r as LogRecord).offset ?? 0, true);
    view.setFloat64(at + 8, r.timestamp ?? -1, true);
    view.setInt32(at + 16, key === null ? -1 : key.length, true);
    view.setInt32(at + 20, value === null ? -1 : value.length, true);
    const h = names?.[i];
    view.setUint16(at + 24, h === undefined ? 0 : h.length, true);
    at += FIXED;
    if (h !== undefined) {
      const headers = r.headers as RecordHeaders;
      for (const name of h) {
        const len = bytes.write(name, at + 2, 'utf8');
        view.setUint16(at, len, true);
        at += 2 + len;
        const v = headers[name];
        view.setUint32(at, v.length, true);
        bytes.set(v, at + 4);
        at += 4 + v.length;
      }
    }
    if (key !== null) {
      bytes.set(key, at);
      at += key.length;
    }
    if (value !== null) {
      bytes.set(value, at);
      at += value.length;
    }
  }
  return buffer;
}

/** Decodes a buffer of `encodeRecords` into read records whose bytes are views of `buffer`. */
export function decodeRecords(buffer: ArrayBuffer): LogRecord[] {
  const view = new DataView(buffer);
  const n = view.getUint32(0, true);
  const out: LogRecord[] = new Array(n);
  let at = 4;
  for (let i = 0; i < n; i++) {
    const offset = view.getFloat64(at, true);
    const timestamp = view.getFloat64(at + 8, true);
    const keyLength = view.getInt32(at + 16, true);
    const valueLength = view.getInt32(at + 20, true);
    const headerCount = view.getUint16(at + 24, true);
    at += FIXED;
    let headers = NO_HEADERS;
    if (headerCount > 0) {
      const h: Record<string, Buffer> = {};
      for (let j = 0; j < headerCount; j++) {
        const nameLength = view.getUint16(at, true);
        const name = Buffer.from(buffer, at + 2, nameLength).toString('utf8');
        at += 2 + nameLength;
        const len = view.getUint32(at, true);
        h[name] = Buffer.from(buffer, at + 4, len);
        at += 4 + len;
      }
      headers = h;
    }
    let key: Buffer | null = null;
    if (keyLength >= 0) {
      key = Buffer.from(buffer, at, keyLength);
      at += keyLength;
    }
    let value: Buffer | null = null;
    if (valueLength >= 0) {
      value = Buffer.from(buffer, at, valueLength);
      at += valueLength;
    }
    out[i] = { offset, timestamp, key, value, headers };
  }
  return out;
}

/** Decodes a buffer of `encodeRecords` into records to append (a timestamp of -1 is left out). */
export function decodeAppends(buffer: ArrayBuffer): AppendRecord[] {
  const records = decodeRecords(buffer) as (LogRecord & AppendRecord)[];
  const out: AppendRecord[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    out[i] =
      r.timestamp < 0
        ? { key: r.key, value: r.value, headers: r.headers }
        : { key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp };
  }
  return out;
}
