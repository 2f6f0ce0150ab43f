/**
 * Restore of one store partition from its changelog, deciding first whether the local copy can be
 * reused (host affinity), and bringing the changelog itself back to the checkpoint.
 *
 * The target is T, the changelog offset the task's checkpoint covers (its state matches the
 * checkpointed input offsets); without a checkpoint bound (standby replicas) T is the changelog's
 * last offset. The store keeps a marker "this engine holds exactly the state at changelog offset N"
 * (`clean`), written in the same engine transaction as the data:
 * - marker clean and N = T: the local store is current — reused, nothing read;
 * - marker clean and N < T: the records N+1..T are replayed on top (the changelog is the history of
 *   this very store, so replaying its tail is exact);
 * - no marker, a marker that is not clean (the engine took writes the changelog never
 *   acknowledged), or N > T (the store is ahead of the checkpoint): the store is wiped and rebuilt
 *   from the earliest offset up to T.
 *
 * Then the changelog tail after T — records an at-least-once run appended before it crashed, ahead
 * of its last checkpoint — is cancelled: every key it touched is relogged with its restored value
 * (a tombstone when absent), so the changelog's latest value of every key is the checkpointed one
 * again (Samza's changelog trimming). Without this, restore would start from state the replayed
 * inputs then apply a second time, and outputs sent from those inputs would be skipped. With
 * `exactlyOnce` the tail holds no committed record (read-committed isolation), so nothing is
 * relogged.
 */
import type { Log, LogRecord, RecordSpans } from '../log/types.js';
import { latin1Id } from '../util/bytes.js';

/** One read of a restore: large, so a Kafka fetch's records are used whole. */
const SCAN_RECORDS = 50_000;
const SCAN_BYTES = 8 << 20;

/** What the runtime needs of a store beyond `KeyValueStore` (the `Store` that `openStore` returns). */
export interface RestorableStore {
  changelogPosition(): { offset: number; clean: boolean } | undefined;
  restore(records: Iterable<{ key: Uint8Array; value: Uint8Array | null; offset: number }>): void;
  /** Optional: `restore` of records as byte spans, used when the log reads them so (`Log.readSpans`). */
  restoreSpans?(blocks: readonly RecordSpans[]): void;
  wipe(): void | Promise<void>;
  relog(keys: Iterable<Uint8Array>): void;
  commit(): Promise<number | undefined>;
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
  /** Keys relogged to cancel changelog records written after the checkpoint (0 until done). */
  readonly relogged: number;
}

export interface RestoreResult extends RestoreProgress {
  readonly ms: number;
}

/**
 * Whether the changelog shows a record at `offset` (a committed one: reads skip aborted
 * transactions). -1 (the empty state) always is; a record removed by compaction or retention is
 * not (the caller then rebuilds: slower, never wrong).
 */
async function committedAt(
  log: Log,
  topic: string,
  partition: number,
  offset: number,
  earliest: number,
): Promise<boolean> {
  if (offset < 0) return true;
  if (offset < earliest) return false;
  const records = await log.read(topic, partition, offset, { maxRecords: 1 });
  return records.length > 0 && records[0].offset === offset;
}

/**
 * Restores `store` from partition `partition` of changelog `topic`. `upTo` is the last changelog
 * offset the task's checkpoint covers (-1: none, the state is empty); undefined restores up to the
 * changelog's end and trims nothing (standby replicas). `end` is the changelog's end offset when
 * the caller has just read it (it is read here otherwise).
 */
export async function restoreStore(
  store: RestorableStore,
  name: string,
  log: Log,
  topic: string,
  partition: number,
  onProgress: (p: RestoreProgress) => void,
  bounds: {
    readonly upTo?: number;
    readonly end?: number;
    /**
     * Exactly-once: a clean marker behind the checkpoint is trusted only if the changelog still
     * shows the record it names. A store commits its marker inside the commit's transaction,
     * before that transaction commits; if the transaction was aborted (the process died or was
     * fenced) while another owner committed past it (Kafka keeps aborted offsets), the marker
     * names an aborted record, and replaying the tail on top of it would count the aborted writes.
     */
    readonly markerMustBeCommitted?: boolean;
  } = {},
): Promise<RestoreResult> {
  const started = performance.now();
  const { upTo } = bounds;
  const end = bounds.end ?? (await log.endOffset(topic, partition));
  const earliest = await log.earliestOffset(topic, partition);
  const target = upTo === undefined ? end - 1 : Math.min(upTo, end - 1);
  const marker = store.changelogPosition();
  let from: number;
  let mode: RestoreProgress['mode'];
  if (marker?.clean && marker.offset === target) {
    mode = 'reused';
    from = target + 1;
  } else if (
    marker?.clean &&
    marker.offset < target &&
    marker.offset >= earliest - 1 &&
    (bounds.markerMustBeCommitted !== true ||
      (await committedAt(log, topic, partition, marker.offset, earliest)))
  ) {
    mode = 'replayed';
    from = marker.offset + 1;
  } else {
    mode = 'rebuilt';
    await store.wipe();
    from = earliest;
  }
  const total = Math.max(0, target + 1 - from);
  let restored = 0;
  let bytes = 0;
  let lastReport = 0;
  const report = (done: boolean, relogged: number) =>
    onProgress({ store: name, partition, restored, total, bytes, done, mode, relogged });
  const progress = () => {
    const now = performance.now();
    if (now - lastReport > 100) {
      lastReport = now;
      report(false, 0);
    }
  };
  if (log.readSpans !== undefined && store.restoreSpans !== undefined) {
    // no object per record: the fetched batches' bytes go to the engine as spans
    const restoreSpans = store.restoreSpans.bind(store);
    await scanSpans(log, topic, partition, from, target + 1, (blocks) => {
      for (let b = 0; b < blocks.length; b++) {
        const { count, keyLength, valueLength } = blocks[b];
        for (let i = 0; i < count; i++) {
          const kl = keyLength[i];
          if (kl < 0) continue;
          restored++;
          bytes += kl + Math.max(0, valueLength[i]);
        }
      }
      restoreSpans(blocks);
      progress();
    });
  } else
    await scan(log, topic, partition, from, target + 1, (records) => {
      // changelog records always have a key (compacted topics refuse keyless ones); filter only if not
      let batch: readonly LogRecord[] = records;
      for (let i = 0; i < records.length; i++) {
        if (records[i].key === null) {
          batch = records.filter((x) => x.key !== null);
          break;
        }
      }
      for (let i = 0; i < batch.length; i++) {
        const r = batch[i];
        bytes += (r.key as Uint8Array).length + (r.value === null ? 0 : r.value.length);
      }
      store.restore(batch as readonly (LogRecord & { key: Uint8Array })[]);
      restored += batch.length;
      progress();
    });
  let relogged = 0;
  if (target + 1 < end) {
    const keys = new Map<string, Uint8Array>();
    await scan(log, topic, partition, target + 1, end, (records) => {
      for (const r of records) if (r.key !== null) keys.set(latin1Id(r.key), r.key);
    });
    if (keys.size > 0) {
      store.relog(keys.values());
      await store.commit();
      relogged = keys.size;
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
    relogged,
    ms: performance.now() - started,
  };
  onProgress(result);
  return result;
}

/**
 * Reads offsets [from, to) of a partition in large reads (compaction gaps and markers are
 * skipped). The next read is started before `onRecords` applies the current one, so fetching and
 * decoding overlap the engine writes (the Kafka log also fetches ahead on its own).
 */
async function scan(
  log: Log,
  topic: string,
  partition: number,
  from: number,
  to: number,
  onRecords: (records: readonly LogRecord[]) => void,
): Promise<void> {
  let offset = from;
  const next = (at: number) =>
    log.read(topic, partition, at, { maxRecords: SCAN_RECORDS, maxBytes: SCAN_BYTES });
  let pending: Promise<LogRecord[]> | undefined = offset < to ? next(offset) : undefined;
  try {
    while (pending !== undefined) {
      const read = await pending;
      pending = undefined;
      if (read.length === 0) break;
      const last = read[read.length - 1].offset;
      offset = last + 1;
      if (offset < to) pending = next(offset);
      onRecords(last < to ? read : read.filter((r) => r.offset < to));
    }
  } finally {
    // a read started before onRecords threw: settle it, nobody awaits it
    pending?.catch(() => {});
  }
}

/**
 * `scan` with `Log.readSpans`: the records of [from, to) as byte-span blocks, the block holding
 * `to` cut short there.
 */
async function scanSpans(
  log: Log,
  topic: string,
  partition: number,
  from: number,
  to: number,
  onBlocks: (blocks: readonly RecordSpans[]) => void,
): Promise<void> {
  const readSpans = (log.readSpans as NonNullable<Log['readSpans']>).bind(log);
  const next = (at: number) =>
    readSpans(topic, partition, at, { maxRecords: SCAN_RECORDS, maxBytes: SCAN_BYTES });
  let pending: Promise<RecordSpans[]> | undefined = from < to ? next(from) : undefined;
  try {
    while (pending !== undefined) {
      const blocks = await pending;
      pending = undefined;
      if (blocks.length === 0) break;
      const tail = blocks[blocks.length - 1];
      const last = tail.offsets[tail.count - 1];
      if (last + 1 < to) pending = next(last + 1);
      onBlocks(last < to ? blocks : cutAt(blocks, to));
    }
  } finally {
    pending?.catch(() => {});
  }
}

/** The records of `blocks` below offset `to`. */
function cutAt(blocks: readonly RecordSpans[], to: number): RecordSpans[] {
  const out: RecordSpans[] = [];
  for (const block of blocks) {
    let n = 0;
    while (n < block.count && block.offsets[n] < to) n++;
    if (n > 0) out.push(n === block.count ? block : { ...block, count: n });
    if (n < block.count) break;
  }
  return out;
}

/** Restores run at once: more overlaps fetching one changelog with applying another. */
export const RESTORE_CONCURRENCY = 4;

/**
 * Runs `restores` with at most `concurrency` at a time, and waits for every one to settle before
 * rejecting with the first failure (none is left running against a store its caller then closes).
 */
export async function runRestores(
  restores: readonly (() => Promise<void>)[],
  concurrency = RESTORE_CONCURRENCY,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < restores.length) {
      const run = restores[next++];
      if (failure !== undefined) continue;
      try {
        await run();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, restores.length) }, lane));
  if (failure !== undefined) throw failure.error;
}
