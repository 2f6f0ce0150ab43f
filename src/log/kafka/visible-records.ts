/**
 * The records a read_committed reader may see in a fetched partition, as `LogRecord`s: control
 * batches (transaction markers) and batches of aborted transactions are dropped, as Kafka's Java
 * consumer does. The broker lists the aborted transactions overlapping the fetched range (producer
 * id and first offset); a transactional batch is aborted when its producer has an aborted
 * transaction that started at or before it and whose abort marker has not been passed yet.
 *
 * Offsets keep their gaps (markers, aborted records, compaction); `nextOffset` says where the next
 * fetch continues, so a reader can skip a range that held nothing visible.
 */
import type { fetchV17 } from '@platformatic/kafka';
import type { LogRecord, RecordHeaders } from '../types.js';

type FetchedPartition = fetchV17.FetchResponsePartition;

const ATTR_TRANSACTIONAL = 0x10;
const ATTR_CONTROL = 0x20;
const EMPTY = Buffer.alloc(0);

export interface VisibleRecords {
  /** Visible records at offsets >= the asked offset, at most `maxRecords`. */
  readonly records: LogRecord[];
  /** Where the next fetch continues: after the last record returned, or after the last batch seen. */
  readonly nextOffset: number;
  /** Bytes of keys, values and headers returned. */
  readonly bytes: number;
  /** True when `maxRecords` or `maxBytes` stopped it. */
  readonly full: boolean;
}

/**
 * The visible records of `part` at offsets >= `from`: at most `maxRecords`, and no more than
 * `maxBytes` of keys, values and headers (but at least one record if `atLeastOne`).
 */
export function visibleRecords(
  part: FetchedPartition,
  from: number,
  maxRecords: number,
  maxBytes: number,
  atLeastOne = true,
): VisibleRecords {
  const records: LogRecord[] = [];
  let bytes = 0;
  let nextOffset = from;
  const batches = part.records ?? [];
  const aborted = [...part.abortedTransactions].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
  const abortedProducers = new Set<bigint>();
  let next = 0;
  for (const batch of batches) {
    const lastOffset = Number(batch.firstOffset) + batch.lastOffsetDelta;
    const transactional = (batch.attributes & ATTR_TRANSACTIONAL) !== 0;
    if (transactional) {
      while (next < aborted.length && Number(aborted[next].firstOffset) <= lastOffset) {
        abortedProducers.add(aborted[next].producerId);
        next++;
      }
    }
    if ((batch.attributes & ATTR_CONTROL) !== 0) {
      // Control record key: version (int16), type (int16): 0 abort, 1 commit.
      const key = batch.records[0]?.key;
      if (key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0) {
        abortedProducers.delete(batch.producerId);
      }
      nextOffset = Math.max(nextOffset, lastOffset + 1);
      continue;
    }
    if (transactional && abortedProducers.has(batch.producerId)) {
      nextOffset = Math.max(nextOffset, lastOffset + 1);
      continue;
    }
    const base = Number(batch.firstOffset);
    for (const r of batch.records) {
      const offset = base + r.offsetDelta;
      if (offset < from) continue;
      const size = recordSize(r.key, r.value, r.headers);
      if ((records.length > 0 || !atLeastOne) && bytes + size > maxBytes)
        return { records, nextOffset: offset, bytes, full: true };
      bytes += size;
      records.push({
        offset,
        timestamp: Number(batch.firstTimestamp + r.timestampDelta),
        key: r.key,
        value: r.value,
        headers: toHeaders(r.headers),
      });
      if (records.length >= maxRecords) return { records, nextOffset: offset + 1, bytes, full: true };
    }
    nextOffset = Math.max(nextOffset, lastOffset + 1);
  }
  return { records, nextOffset, bytes, full: false };
}

function recordSize(
  key: Buffer | null,
  value: Buffer | null,
  headers: readonly [Buffer | null, Buffer | null][],
): number {
  let size = (key?.length ?? 0) + (value?.length ?? 0);
  for (const [k, v] of headers) size += (k?.length ?? 0) + (v?.length ?? 0);
  return size;
}

function toHeaders(headers: readonly [Buffer | null, Buffer | null][]): RecordHeaders {
  if (headers.length === 0) return {};
  const out: Record<string, Buffer> = {};
  for (const [name, value] of headers) {
    if (name === null) continue;
    out[name.toString('utf8')] = value ?? EMPTY;
  }
  return out;
}
