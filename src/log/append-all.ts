/**
 * `appendAll`: appends records to several partitions of one topic as one unit — in one
 * transaction when the log has them (the embedded and Kafka logs do), so a crash or an error
 * midway leaves nothing; without transactions (the memory log) a failure midway may leave the
 * earlier chunks written, and the error then says which. Used by `eddy produce`, by the control
 * socket of a running job, and by `POST /v1/topics/{topic}/records`.
 *
 * Records go in chunks of at most `CHUNK_RECORDS` records / about `CHUNK_BYTES` bytes per append
 * call (one batch of the embedded log each). Callers validate the partitions first: a partition
 * outside the topic rejects with `UnknownPartitionError` before the first chunk is sent only if it
 * is the first one routed; validate all of them to be sure nothing is written.
 */
import { EddyError } from '../util/errors.js';
import type { AppendRecord, Log } from './types.js';

/** Records per append call (and so per batch of the embedded log). */
export const CHUNK_RECORDS = 10_000;
/** About this many key+value bytes per append call. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

/** What one partition received: `count` records at offsets `first`..`last`. */
export interface PartitionAppend {
  count: number;
  first: number;
  last: number;
}

/** Appends every partition's records, in one transaction when the log has them. */
export async function appendAll(
  log: Log,
  topic: string,
  byPartition: ReadonlyMap<number, readonly AppendRecord[]>,
): Promise<Map<number, PartitionAppend>> {
  const results = new Map<number, PartitionAppend>();
  const tx = log.supports.transactions && log.beginTransaction ? await log.beginTransaction() : undefined;
  let wrote = false;
  try {
    for (const [partition, records] of byPartition) {
      for (const chunk of chunks(records)) {
        const r = tx ? await tx.append(topic, partition, chunk) : await log.append(topic, partition, chunk);
        wrote = true;
        const prev = results.get(partition);
        if (prev === undefined)
          results.set(partition, { count: chunk.length, first: r.baseOffset, last: r.nextOffset - 1 });
        else {
          prev.count += chunk.length;
          prev.last = r.nextOffset - 1;
        }
      }
    }
    if (tx) await tx.commit();
    else await log.flush();
  } catch (err) {
    if (tx) {
      await tx.abort().catch(() => undefined);
      throw err;
    }
    if (!wrote) throw err;
    const done = [...results].map(([p, r]) => `partition ${p}: ${r.count}`).join(', ');
    const message = `append failed after some records were written (${done}): ${(err as Error).message}`;
    throw err instanceof EddyError
      ? new EddyError(err.code, message, { cause: err })
      : new Error(message, { cause: err });
  }
  return results;
}

function* chunks(records: readonly AppendRecord[]): Generator<readonly AppendRecord[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0) + 16;
    if (i + 1 - start >= CHUNK_RECORDS || bytes >= CHUNK_BYTES) {
      yield records.slice(start, i + 1);
      start = i + 1;
      bytes = 0;
    }
  }
  if (start < records.length) yield records.slice(start);
}
