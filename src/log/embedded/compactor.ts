/**
 * Compaction of `cleanup: 'compact'` partitions of the embedded log: keep the latest record of every
 * key in the closed segments, and drop tombstones once they are older than `deleteRetentionMs`.
 *
 * A pass (Kafka's log cleaner, simplified):
 * 1. The cleanable range is the closed segments from the oldest on, never the active segment,
 *    never a segment holding offsets of an open transaction, and never one holding offsets at or
 *    past the partition's compaction hold (`Log.holdCompaction`, which a job keeps at the end of
 *    what its last checkpoint covers in each changelog).
 * 2. Key map: `Map<key as latin1 string, latest offset>` over the dirty segments (those past the
 *    partition's cleaner checkpoint, `cleaner-checkpoint.json`). Its memory is bounded by
 *    `maxKeyMapBytes` (estimate: 64 bytes + key length per distinct key; default 64 MiB, about a
 *    million 16-byte keys). When the map is full at a segment boundary the pass cleans only up to
 *    there (at least one dirty segment) and a later pass continues.
 * 3. Every segment of the range is rewritten, in groups whose input fits in `segmentBytes`, into one
 *    replacement segment per group (`Segment.createCleaned`). A record is dropped when the
 *    map holds a newer offset for its key, or when it is a tombstone whose timestamp is older than
 *    `now - deleteRetentionMs`; records with a null key are always kept. Survivors keep their
 *    offsets; each output batch covers the offsets of the input batches it came from, and the last
 *    batch of a group ends at the group's last offset, so the segment boundaries do not move.
 * 4. `Partition.replaceSegments` swaps each group atomically (see partition.ts: fsync, `swap.json`
 *    commit point, renames; recovery on open completes or discards it). The cleaned segment and
 *    the directory are fsynced before the swap so the cleaned files are durable before the
 *    manifest names them.
 * 5. The checkpoint moves to the end of the mapped range (atomic write); segments below it hold
 *    each key at most once, so the next pass maps only newer segments.
 *
 * Crash safety: old segments are deleted only after the manifest naming their fsynced replacement
 * is durable; a crash before that leaves the old segments and `.cleaned` leftovers that open
 * deletes; a crash after it is completed by open. A crash before the checkpoint is written only
 * makes the next pass map more. At every instant each key's latest record is on disk.
 *
 * Off the event loop: steps 2 and 3 (all the reading, decoding, encoding and writing) run on the
 * compaction thread (`compaction-thread.ts`, `compaction-work.ts`); this module only plans the pass,
 * swaps the cleaned segments in and writes the checkpoint, so a pass does not take the job's event
 * loop from its appends and reads. Only one pass per partition runs at a time (also when called
 * directly, outside the log's cleaner chain), and the log's `truncate` of a partition waits for it
 * (`exclusive`): a swap goes by base offsets, which a truncation and new appends could reuse. `signal` (the log's, aborted when it closes) stops a
 * pass at the next batch with an `AbortedError`; what was swapped in stays.
 */

import { join } from 'node:path';
import { AbortedError, InvalidArgumentError } from '../../util/errors.js';
import type { TopicConfig } from '../types.js';
import { CompactionPass } from './compaction-thread.js';
import type { EmbeddedLog } from './embedded-log.js';
import { readJsonIfExists, writeFileAtomic } from './fs-util.js';
import type { Partition, SegmentInfo } from './partition.js';
import { Segment } from './segment.js';

/** The per-partition file that remembers how far the partition is clean. */
export const CLEANER_CHECKPOINT_FILE = 'cleaner-checkpoint.json';
/** The per-partition file that keeps its compaction hold (`holdCompaction`). */
export const COMPACTION_HOLD_FILE = 'compaction-hold.json';

export interface CompactionOptions {
  /** "Now" for tombstone expiry (ms since the epoch); default `Date.now()`. */
  now?: number;
  /** Memory bound of the key map, estimated at 64 bytes + key length per key; default 64 MiB. */
  maxKeyMapBytes?: number;
  /** Target size of the output batches; default 256 KiB. */
  outputBatchBytes?: number;
  /** fsync the directory before each swap (default true; the log passes false under `fsync: 'os'`). */
  durable?: boolean;
  /** Stops the pass at the next batch (`AbortedError`); the log passes its own, aborted on close. */
  signal?: AbortSignal;
}

export interface CompactionResult {
  /** Closed segments rewritten (0 when there was nothing to clean). */
  segmentsCleaned: number;
  recordsRead: number;
  recordsKept: number;
  tombstonesDropped: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Distinct keys in the key map. */
  keysMapped: number;
  /** The partition is clean below this offset now. */
  cleanedUpTo: number;
  /** The partition's compaction hold (`Log.holdCompaction`): records from it on are not used; null: none. */
  heldAt: number | null;
}

/** What `cleaner-checkpoint.json` holds. */
export interface CleanerCheckpoint {
  /** Segments ending at or below this offset are clean (hold each key at most once). */
  cleanUpTo: number;
  /** The earliest time a tombstone kept by the last pass expires (null: none kept). */
  tombstoneExpiresAt: number | null;
}

const DEFAULTS = {
  maxKeyMapBytes: 64 * 1024 * 1024,
  outputBatchBytes: 256 * 1024,
} as const;

const running = new WeakMap<Partition, Promise<unknown>>();

/** Runs `fn` after any pass (or truncation) already running on `partition`: one at a time per partition. */
export function exclusive<T>(partition: Partition, fn: () => Promise<T>): Promise<T> {
  const prev = running.get(partition) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  running.set(
    partition,
    next.catch(() => undefined),
  );
  return next;
}

/** The partition's cleaner checkpoint (a fresh partition is clean below its earliest offset). */
export function readCleanerCheckpoint(partition: Partition): CleanerCheckpoint {
  const cp = readJsonIfExists<CleanerCheckpoint>(join(partition.dir, CLEANER_CHECKPOINT_FILE));
  // A checkpoint past the end is stale (the partition was truncated below it): start over. A stale
  // checkpoint can only make a pass keep more, never drop a latest record: the key map is built
  // from the data itself.
  if (cp === undefined || !Number.isSafeInteger(cp.cleanUpTo) || cp.cleanUpTo > partition.endOffset) {
    return { cleanUpTo: partition.earliestOffset, tombstoneExpiresAt: null };
  }
  return cp;
}

/**
 * Sets the partition's compaction hold (`Log.holdCompaction`). Its file, `compaction-hold.json`,
 * makes it hold after a crash too (before the job's restart sets it again, and for `eddy topics
 * compact` on a stopped job): written at the first hold of this process and before each pass that
 * uses a newer one — not at every commit — so the file is never past what the job's last durable
 * checkpoint covered, at worst behind it, which only compacts less. Atomic, not fsynced: after a
 * power loss it is an older hold, or unreadable, which holds at 0.
 */
export function holdCompaction(partition: Partition, offset: number): void {
  compactionHoldOf(partition);
  partition.compactionHold = offset;
  if (partition.savedHold === undefined) saveHold(partition, offset);
}

function saveHold(partition: Partition, offset: number): void {
  if (partition.savedHold === offset) return;
  writeFileAtomic(join(partition.dir, COMPACTION_HOLD_FILE), JSON.stringify({ offset }), false);
  partition.savedHold = offset;
}

/** The partition's compaction hold (Infinity when it has none), read from its file once. */
export function compactionHoldOf(partition: Partition): number {
  if (partition.compactionHold === undefined) {
    let hold = Number.POSITIVE_INFINITY;
    try {
      const saved = readJsonIfExists<{ offset?: unknown }>(join(partition.dir, COMPACTION_HOLD_FILE));
      if (saved !== undefined) {
        const offset = saved.offset;
        hold = typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0 ? offset : 0;
      }
    } catch {
      hold = 0; // damaged: hold everything until the job sets it again
    }
    partition.compactionHold = hold;
  }
  return partition.compactionHold;
}

/**
 * The closed segments a pass may touch: from the oldest, not the active one, none holding an
 * offset of an open transaction, and none holding an offset at or past the partition's
 * compaction hold (`Log.holdCompaction`: what its job's last checkpoint covers).
 */
export function cleanableSegments(partition: Partition): SegmentInfo[] {
  const limit = Math.min(partition.txnStart ?? Number.POSITIVE_INFINITY, compactionHoldOf(partition));
  const out: SegmentInfo[] = [];
  for (const s of partition.listSegments()) {
    if (s.active || s.nextOffset > limit) break;
    out.push(s);
  }
  return out;
}

/** The share of the cleanable bytes that lie past the cleaner checkpoint (0 when none). */
export function dirtyRatio(partition: Partition): number {
  const segments = cleanableSegments(partition);
  const { cleanUpTo } = readCleanerCheckpoint(partition);
  let total = 0;
  let dirty = 0;
  for (const s of segments) {
    total += s.size;
    if (s.nextOffset > cleanUpTo) dirty += s.size;
  }
  return total === 0 ? 0 : dirty / total;
}

/** Compacts the cleanable segments of `partition` once (see the file header). */
export function compactPartition(
  partition: Partition,
  config: Pick<TopicConfig, 'deleteRetentionMs' | 'segmentBytes'>,
  options: CompactionOptions = {},
): Promise<CompactionResult> {
  return exclusive(partition, () => runPass(partition, config, options));
}

/**
 * Compacts every partition of a `cleanup: 'compact'` topic now, whatever its dirty ratio (the
 * explicit trigger; `eddy topics compact`). Partitions are done one after the other.
 */
export async function compactTopic(
  log: EmbeddedLog,
  topic: string,
  options: CompactionOptions = {},
): Promise<CompactionResult[]> {
  const { config } = await log.describeTopic(topic);
  if (config.cleanup !== 'compact') {
    throw new InvalidArgumentError(
      `topic "${topic}" has cleanup "${config.cleanup}"; only compact topics are compacted`,
    );
  }
  const results: CompactionResult[] = [];
  for (let p = 0; p < config.partitions; p++) {
    results.push(await compactPartition(log.partitionForCleaning(topic, p), config, options));
  }
  return results;
}

async function runPass(
  partition: Partition,
  config: Pick<TopicConfig, 'deleteRetentionMs' | 'segmentBytes'>,
  options: CompactionOptions,
): Promise<CompactionResult> {
  const now = options.now ?? Date.now();
  const checkpoint = readCleanerCheckpoint(partition);
  const hold = compactionHoldOf(partition);
  if (Number.isFinite(hold)) saveHold(partition, hold); // what this pass uses is what a crash keeps
  const result: CompactionResult = {
    segmentsCleaned: 0,
    recordsRead: 0,
    recordsKept: 0,
    tombstonesDropped: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    keysMapped: 0,
    cleanedUpTo: checkpoint.cleanUpTo,
    heldAt: Number.isFinite(hold) ? hold : null,
  };
  const segments = cleanableSegments(partition);
  if (segments.length === 0) return result;
  const signal = options.signal;
  if (signal?.aborted) throw new AbortedError('compaction pass aborted (the log is closing)');
  const pass = new CompactionPass();
  const abort = (): void => pass.abort();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    // 2. The key map over the dirty segments (on the compaction thread).
    const mapped = await pass.mapKeys({
      dir: partition.dir,
      segments: segments.map((s) => ({ baseOffset: s.baseOffset, nextOffset: s.nextOffset })),
      cleanUpTo: checkpoint.cleanUpTo,
      maxKeyMapBytes: options.maxKeyMapBytes ?? DEFAULTS.maxKeyMapBytes,
    });
    result.keysMapped = mapped.keysMapped;
    const range = segments.filter((s) => s.nextOffset <= mapped.mappedUpTo);
    if (range.length === 0) return result;

    // 3 + 4. Rewrite in groups (on the compaction thread), swapping each here.
    let tombstoneExpiresAt: number | null = null;
    for (const group of groupsOf(range, config.segmentBytes)) {
      if (pass.aborted) throw new AbortedError('compaction pass aborted (the log is closing)');
      const bases = group.map((s) => s.baseOffset);
      const cleaned = await pass.clean({
        dir: partition.dir,
        bases,
        groupEnd: group[group.length - 1].nextOffset,
        now,
        deleteRetentionMs: config.deleteRetentionMs,
        outputBatchBytes: options.outputBatchBytes ?? DEFAULTS.outputBatchBytes,
        durable: options.durable !== false,
      });
      try {
        await partition.replaceSegments(bases, bases[0]);
      } catch (err) {
        // Refused before anything changed (the segments moved meanwhile): drop the cleaned copy. Any
        // other failure may have happened after the swap manifest was written: the cleaned files are
        // then the only copy and stay for recovery on the next open.
        if (err instanceof InvalidArgumentError) Segment.deleteCleaned(partition.dir, bases[0]);
        throw err;
      }
      for (const s of group) result.bytesBefore += s.size;
      result.recordsRead += cleaned.recordsRead;
      result.recordsKept += cleaned.recordsKept;
      result.tombstonesDropped += cleaned.tombstonesDropped;
      result.bytesAfter += cleaned.bytesAfter;
      const expires = cleaned.tombstoneExpiresAt;
      if (expires !== null && (tombstoneExpiresAt === null || expires < tombstoneExpiresAt)) {
        tombstoneExpiresAt = expires;
      }
      result.segmentsCleaned += group.length;
    }

    // 5. The checkpoint.
    const next: CleanerCheckpoint = { cleanUpTo: mapped.mappedUpTo, tombstoneExpiresAt };
    writeFileAtomic(
      join(partition.dir, CLEANER_CHECKPOINT_FILE),
      JSON.stringify(next),
      options.durable !== false,
    );
    result.cleanedUpTo = mapped.mappedUpTo;
    return result;
  } finally {
    signal?.removeEventListener('abort', abort);
    pass.end();
  }
}

/**
 * Splits the range into groups of contiguous segments whose input fits in `segmentBytes` (and whose
 * offsets fit a segment's 32-bit relative offsets); each group becomes one cleaned segment.
 */
function groupsOf(range: readonly SegmentInfo[], segmentBytes: number): SegmentInfo[][] {
  const groups: SegmentInfo[][] = [];
  let i = 0;
  while (i < range.length) {
    const group: SegmentInfo[] = [range[i]];
    let inputBytes = range[i].size;
    while (
      i + group.length < range.length &&
      inputBytes + range[i + group.length].size <= segmentBytes &&
      range[i + group.length].nextOffset - range[i].baseOffset < 0xffff_ffff
    ) {
      inputBytes += range[i + group.length].size;
      group.push(range[i + group.length]);
    }
    groups.push(group);
    i += group.length;
  }
  return groups;
}
