/**
 * Restore of one store partition from its changelog, deciding first whether the local copy can be
 * reused (host affinity).
 *
 * The store keeps a marker "this engine holds exactly the state at changelog offset N" (`clean`),
 * written in the same engine transaction as the data. With the changelog's end offset E:
 * - marker clean and N = E - 1: the local store is current — reused, nothing read;
 * - marker clean and N < E - 1: the records after N are replayed on top (the changelog is the
 *   history of this very store, so replaying its tail is exact);
 * - no marker, a marker that is not clean (the engine took writes the changelog never
 *   acknowledged), or N >= E (the store is ahead: a transaction that held its changelog records was
 *   aborted or truncated away): the store is wiped and rebuilt from the earliest offset.
 * Restore reads up to E, the changelog's end under read-committed isolation, which is exactly the
 * last commit for an exactly-once job.
 */
import type { Log } from '../log/types.js';

/** What the runtime needs of a store beyond `KeyValueStore` (the `Store` that `openStore` returns). */
export interface RestorableStore {
  changelogPosition(): { offset: number; clean: boolean } | undefined;
  restore(records: Iterable<{ key: Uint8Array; value: Uint8Array | null; offset: number }>): void;
  wipe(): void | Promise<void>;
}

export interface RestoreProgress {
  readonly store: string;
  readonly partition: number;
  /** Records applied so far. */
  readonly restored: number;
  /** Offsets to read in all (an upper bound: compaction leaves gaps). */
  readonly total: number;
  readonly bytes: number;
  readonly done: boolean;
  /** How the local copy was used: reused as is, its tail replayed, or rebuilt from scratch. */
  readonly mode: 'reused' | 'replayed' | 'rebuilt';
}

export interface RestoreResult extends RestoreProgress {
  readonly ms: number;
}

export async function restoreStore(
  store: RestorableStore,
  name: string,
  log: Log,
  topic: string,
  partition: number,
  onProgress: (p: RestoreProgress) => void,
): Promise<RestoreResult> {
  const started = performance.now();
  const end = await log.endOffset(topic, partition);
  const earliest = await log.earliestOffset(topic, partition);
  const marker = store.changelogPosition();
  let from: number;
  let mode: RestoreProgress['mode'];
  if (marker?.clean && marker.offset === end - 1) {
    mode = 'reused';
    from = end;
  } else if (marker?.clean && marker.offset < end - 1 && marker.offset >= earliest - 1) {
    mode = 'replayed';
    from = marker.offset + 1;
  } else {
    mode = 'rebuilt';
    await store.wipe();
    from = earliest;
  }
  const total = end - from;
  let restored = 0;
  let bytes = 0;
  let offset = from;
  let lastReport = 0;
  while (offset < end) {
    const records = await log.read(topic, partition, offset, { maxRecords: 5000, maxBytes: 4 << 20 });
    if (records.length === 0) break;
    const batch: { key: Uint8Array; value: Uint8Array | null; offset: number }[] = [];
    for (const r of records) {
      if (r.offset >= end) break;
      if (r.key === null) continue;
      batch.push({ key: r.key, value: r.value, offset: r.offset });
      bytes += r.key.length + (r.value?.length ?? 0);
    }
    store.restore(batch);
    restored += batch.length;
    offset = records[records.length - 1].offset + 1;
    const now = performance.now();
    if (now - lastReport > 100) {
      lastReport = now;
      onProgress({ store: name, partition, restored, total, bytes, done: false, mode });
    }
  }
  const result = {
    store: name,
    partition,
    restored,
    total,
    bytes,
    done: true,
    mode,
    ms: performance.now() - started,
  };
  onProgress(result);
  return result;
}
