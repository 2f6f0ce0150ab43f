/**
 * The text forms of records on the command line: the input lines of `eddy produce` (TSV and JSON)
 * and the output lines of `eddy consume` (TSV and JSON).
 *
 * Input, one record a line (empty lines are skipped, a trailing `\r` is dropped):
 * - `tsv`: `key<TAB>value`; a line without a TAB is a value with a null key. The bytes are taken as
 *   they are (no escapes), so a TSV value can hold anything but a newline. No tombstones in TSV.
 * - `json`: `{"key":…, "value":…, "headers"?:{…}, "partition"?:N, "timestamp"?:MS}`. A string is
 *   taken as UTF-8; `null` is a null key or a tombstone value; any other JSON value (object, number,
 *   …) is written as its JSON text. `"keyEncoding"`/`"valueEncoding": "base64"` and
 *   `"headerEncodings": {name: "base64"}` mark base64 strings, and `offset` is ignored, so the JSON
 *   output of `eddy consume` can be piped into `eddy produce`. Any other field is an error.
 *
 * Output: bytes print as UTF-8 text when they are valid UTF-8, as base64 otherwise; JSON lines say
 * which in `keyEncoding`/`valueEncoding` (`"utf8"` or `"base64"`) and `headerEncodings`.
 */
import type { AppendRecord, LogRecord } from '../log/types.js';

/** A parsed input line: the record, and the partition the line asked for, if any. */
export interface ParsedLine {
  record: AppendRecord;
  partition: number | undefined;
}

const JSON_FIELDS = new Set([
  'key',
  'value',
  'headers',
  'partition',
  'timestamp',
  'keyEncoding',
  'valueEncoding',
  'headerEncodings',
  'offset',
]);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A TSV input line (without its newline) as a record: key before the first TAB, value after. */
export function parseTsvLine(line: Buffer): ParsedLine {
  const tab = line.indexOf(9);
  if (tab < 0) return { record: { key: null, value: line }, partition: undefined };
  return { record: { key: line.subarray(0, tab), value: line.subarray(tab + 1) }, partition: undefined };
}

/**
 * A JSON input line as a record. Throws an `Error` whose message says what is wrong (the caller
 * adds the line number).
 */
export function parseJsonLine(text: string): ParsedLine {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON (${(err as Error).message})`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new Error('expected a JSON object like {"key":"k","value":"v"}');
  }
  const o = obj as Record<string, unknown>;
  for (const field of Object.keys(o)) {
    if (!JSON_FIELDS.has(field)) {
      throw new Error(`unknown field "${field}"; allowed: ${[...JSON_FIELDS].join(', ')}`);
    }
  }
  if (!('value' in o)) throw new Error('missing field "value" (use "value":null for a tombstone)');
  const record: AppendRecord = {
    key: bytesField(o.key, encodingField(o.keyEncoding, 'keyEncoding'), 'key'),
    value: bytesField(o.value, encodingField(o.valueEncoding, 'valueEncoding'), 'value'),
  };
  if (o.headers !== undefined) record.headers = headersField(o.headers, o.headerEncodings);
  else if (o.headerEncodings !== undefined) throw new Error('field "headerEncodings" without "headers"');
  if (o.timestamp !== undefined) {
    if (!Number.isSafeInteger(o.timestamp) || (o.timestamp as number) < 0) {
      throw new Error(
        `field "timestamp" must be a non-negative integer of milliseconds, got ${JSON.stringify(o.timestamp)}`,
      );
    }
    record.timestamp = o.timestamp as number;
  }
  let partition: number | undefined;
  if (o.partition !== undefined && o.partition !== null) {
    if (!Number.isSafeInteger(o.partition) || (o.partition as number) < 0) {
      throw new Error(`field "partition" must be a non-negative integer, got ${JSON.stringify(o.partition)}`);
    }
    partition = o.partition as number;
  }
  return { record, partition };
}

function encodingField(raw: unknown, name: string): 'utf8' | 'base64' {
  if (raw === undefined || raw === 'utf8') return 'utf8';
  if (raw === 'base64') return 'base64';
  throw new Error(`field "${name}" must be "utf8" or "base64", got ${JSON.stringify(raw)}`);
}

function bytesField(raw: unknown, encoding: 'utf8' | 'base64', name: string): Buffer | null {
  if (raw === undefined || raw === null) return null;
  if (encoding === 'base64') {
    if (typeof raw !== 'string' || !BASE64.test(raw)) {
      throw new Error(`field "${name}" is marked base64 but is not a base64 string`);
    }
    return Buffer.from(raw, 'base64');
  }
  return Buffer.from(typeof raw === 'string' ? raw : JSON.stringify(raw), 'utf8');
}

function headersField(raw: unknown, encodings: unknown): Record<string, Buffer> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error('field "headers" must be an object of name to string');
  }
  const enc = (encodings ?? {}) as Record<string, unknown>;
  if (typeof enc !== 'object' || enc === null || Array.isArray(enc)) {
    throw new Error('field "headerEncodings" must be an object of header name to "utf8" or "base64"');
  }
  const out: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string')
      throw new Error(`header "${name}" must be a string, got ${JSON.stringify(value)}`);
    out[name] = bytesField(
      value,
      encodingField(enc[name], `headerEncodings.${name}`),
      `headers.${name}`,
    ) as Buffer;
  }
  return out;
}

/** True when `bytes` are valid UTF-8 (so they print as text). */
export function isUtf8(bytes: Buffer): boolean {
  return Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

function textOf(bytes: Buffer): { text: string; encoding: 'utf8' | 'base64' } {
  return isUtf8(bytes)
    ? { text: bytes.toString('utf8'), encoding: 'utf8' }
    : { text: bytes.toString('base64'), encoding: 'base64' };
}

/**
 * A record as one TSV output line: `partition<TAB>offset<TAB>key<TAB>value`. A null key prints as
 * an empty field, a tombstone as `<tombstone>`; bytes that are not UTF-8, or contain a TAB or a
 * newline, print as `base64:<base64>`. For exact bytes use JSON.
 */
export function formatTsv(partition: number, r: LogRecord): string {
  const key = r.key === null ? '' : tsvField(r.key);
  const value = r.value === null ? '<tombstone>' : tsvField(r.value);
  return `${partition}\t${r.offset}\t${key}\t${value}\n`;
}

function tsvField(bytes: Buffer): string {
  const { text, encoding } = textOf(bytes);
  return encoding === 'utf8' && !/[\t\n\r]/.test(text) ? text : `base64:${bytes.toString('base64')}`;
}

/** A record as one JSON output line, with the encoding of every byte field. */
export function formatJson(partition: number, r: LogRecord): string {
  const out: Record<string, unknown> = { partition, offset: r.offset, timestamp: r.timestamp };
  if (r.key === null) {
    out.key = null;
  } else {
    const k = textOf(r.key);
    out.key = k.text;
    out.keyEncoding = k.encoding;
  }
  if (r.value === null) {
    out.value = null;
  } else {
    const v = textOf(r.value);
    out.value = v.text;
    out.valueEncoding = v.encoding;
  }
  const names = Object.keys(r.headers);
  if (names.length > 0) {
    const headers: Record<string, string> = {};
    const encodings: Record<string, string> = {};
    for (const name of names) {
      const h = textOf(r.headers[name]);
      headers[name] = h.text;
      encodings[name] = h.encoding;
    }
    out.headers = headers;
    out.headerEncodings = encodings;
  }
  return `${JSON.stringify(out)}\n`;
}
