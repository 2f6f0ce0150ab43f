/**
 * The per-topic record size limit (`TopicConfig.maxRecordBytes`), one rule for every backend that
 * enforces it itself (the embedded and memory logs; Kafka's broker enforces `max.message.bytes`).
 *
 * A record's size is its key, value and header bytes (header names as UTF-8); framing is not
 * counted. An append with one record over the limit fails whole with `RecordTooLargeError`, before
 * anything is written.
 */
import { RecordTooLargeError } from '../util/errors.js';
import type { AppendRecord, RecordHeaders } from './types.js';

/** The bytes of `headers` that count against `maxRecordBytes`: names (UTF-8) and values. */
export function headerBytes(headers: RecordHeaders): number {
  let n = 0;
  for (const name in headers) n += Buffer.byteLength(name) + headers[name].length;
  return n;
}

/** The bytes of `r` that count against `maxRecordBytes`. */
export function recordBytes(r: AppendRecord): number {
  const n = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  return r.headers === undefined ? n : n + headerBytes(r.headers);
}

/** The error of a record over the limit, naming topic, partition, size and limit. */
export function recordTooLarge(
  topic: string,
  partition: number,
  size: number,
  limit: number,
  which: string,
): RecordTooLargeError {
  return new RecordTooLargeError(
    `${which} for topic "${topic}" partition ${partition} is ${size} bytes (key, value and headers), over the ` +
      `topic's maxRecordBytes of ${limit}; nothing was written. Make the record smaller, or create the topic ` +
      'with a larger limit (maxRecordBytes, eddy topics create --max-record-bytes)',
  );
}

/** Throws `RecordTooLargeError` when a record of `records` is larger than `limit`. */
export function checkRecordSizes(
  topic: string,
  partition: number,
  records: readonly AppendRecord[],
  limit: number,
): void {
  for (let i = 0; i < records.length; i++) {
    const size = recordBytes(records[i]);
    if (size > limit) {
      const which = records.length === 1 ? 'the record' : `record ${i} of ${records.length} of the append`;
      throw recordTooLarge(topic, partition, size, limit, which);
    }
  }
}

/** The largest record of `records` (key, value and headers) and its index. */
export function largestRecord(records: readonly AppendRecord[]): { bytes: number; index: number } {
  let bytes = 0;
  let index = 0;
  for (let i = 0; i < records.length; i++) {
    const size = recordBytes(records[i]);
    if (size > bytes) {
      bytes = size;
      index = i;
    }
  }
  return { bytes, index };
}
