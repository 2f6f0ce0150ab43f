/**
 * Compaction of `cleanup: 'compact'` partitions of the embedded log: keep the latest record of every
 * key in the closed segments, and drop tombstones once they are older than `deleteRetentionMs`.
 *
 * A pass (Kafka's log cleaner, simplified):
 * 1. The cleanable range is the closed segments from the oldest on, never the active segment and
 *    never a segment holding offsets of an open transaction.
 * 2. Key map: `Map<key as latin1 string, latest offset>` over the dirty segments (those past the
 *    partition's cleaner checkpoint, `cleaner-checkpoint.json`). Its memory is bounded by
 *    `maxKeyMapBytes` (estimate: 64 bytes + key length per distinct key; default 64 MiB, about a
 *    million 16-byte keys). When the map is full at a segment boundary the pass cleans only up to
 *    there (at least one dirty segment) and a later pass continues.
 * 3. Every segment of the range is rewritten, in groups whose input fits in `segmentBytes`, into one
 *    replacement segment per group (`Partition.createCleanedSegment`). A record is dropped when the
 *    map holds a newer offset for its key, or when it is a tombstone whose timestamp is older than
 *    `now - deleteRetentionMs`; records with a null key are always kept. Survivors keep their
 *    offsets; each output batch covers the offsets of the input batches it came from, and the last
 *    batch of a group ends at the group's last offset, so the segment boundaries do not move.
 * 4. `Partition.replaceSegments` swaps each group atomically (see partition.ts: fsync, `swap.json`
 *    commit point, renames; recovery on open completes or discards it). The directory is fsynced
 *    before the swap so the cleaned files' names are durable before the manifest names them.
 * 5. The checkpoint moves to the end of the mapped range (atomic write); segments below it hold
 *    each key at most once, so the next pass maps only newer segments.
 *
 * Crash safety: old segments are deleted only after the manifest naming their fsynced replacement
 * is durable; a crash before that leaves the old segments and `.cleaned` leftovers that open
 * deletes; a crash after it is completed by open. A crash before the checkpoint is written only
 * makes the next pass map more. At every instant each key's latest record is on disk.
 *
 * Not stalling appends: segment I/O is synchronous, so the pass yields to the event loop after
 * every `yieldBytes` of input (default 1 MiB); appends and reads run in between. Only one pass per
 * partition runs at a time (also when called directly, outside the log's cleaner chain).
 */

import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { InvalidArgumentError } from '../../util/errors.js';
import type { LogRecord, TopicConfig } from '../types.js';
import type { EmbeddedLog } from './embedded-log.js';
import { fsyncDir, readJsonIfExists, writeFileAtomic } from './fs-util.js';
import type { Partition, SegmentInfo } from './partition.js';
import { BATCH_HEADER_SIZE, decodeRecords, encodeBatch, type ReadBudget } from './record-batch.js';
import type { Segment } from './segment.js';

/** The per-partition file that remembers how far the partition is clean. */
export const CLEANER_CHECKPOINT_FILE = 'cleaner-checkpoint.json';

export interface CompactionOptions {
  /** "Now" for tombstone expiry (ms since the epoch); default `Date.now()`. */
  now?: number;
  /** Memory bound of the key map, estimated at 64 bytes + key length per key; default 64 MiB. */
  maxKeyMapBytes?: number;
  /** Yield to the event loop after this many bytes of input; default 1 MiB. */
  yieldBytes?: number;
  /** Target size of the output batches; default 256 KiB. */
  outputBatchBytes?: number;
  /** fsync the directory before each swap (default true; the log passes false under `fsync: 'os'`). */
  durable?: boolean;
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
  yieldBytes: 1024 * 1024,
  outputBatchBytes: 256 * 1024,
} as const;
const KEY_ENTRY_OVERHEAD = 64;

const running = new WeakMap<Partition, Promise<unknown>>();

/** Runs `fn` after any pass already running on `partition` (one cleaner pass per partition). */
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
 * The closed segments a pass may touch: from the oldest, not the active one, and none holding an
 * offset of an open transaction.
 */
export function cleanableSegments(partition: Partition): SegmentInfo[] {
  const limit = partition.txnStart ?? Number.POSITIVE_INFINITY;
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
  const yieldBytes = options.yieldBytes ?? DEFAULTS.yieldBytes;
  const result: CompactionResult = {
    segmentsCleaned: 0,
    recordsRead: 0,
    recordsKept: 0,
    tombstonesDropped: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    keysMapped: 0,
    cleanedUpTo: readCleanerCheckpoint(partition).cleanUpTo,
  };
  const segments = cleanableSegments(partition);
  if (segments.length === 0) return result;
  const checkpoint = readCleanerCheckpoint(partition);

  // 2. The key map over the dirty segments, whole segments only, within the memory bound.
  const keyMap = new Map<string, number>();
  let mapBytes = 0;
  let mappedUpTo = Math.max(checkpoint.cleanUpTo, segments[0].baseOffset);
  let sinceYield = 0;
  const maxMapBytes = options.maxKeyMapBytes ?? DEFAULTS.maxKeyMapBytes;
  for (const s of segments) {
    if (s.nextOffset <= mappedUpTo) continue;
    if (mapBytes > maxMapBytes && mappedUpTo > checkpoint.cleanUpTo) break;
    for (const batch of partition.readSegmentBatches(s.baseOffset)) {
      mapBytes += mapKeys(batch.bytes, keyMap);
      sinceYield += batch.bytes.length;
      if (sinceYield >= yieldBytes) {
        sinceYield = 0;
        await yieldToLoop();
      }
    }
    mappedUpTo = s.nextOffset;
  }
  result.keysMapped = keyMap.size;
  const range = segments.filter((s) => s.nextOffset <= mappedUpTo);
  if (range.length === 0) return result;

  // 3 + 4. Rewrite in groups, swapping each.
  const tombstoneCutoff = now - config.deleteRetentionMs;
  let tombstoneExpiresAt: number | null = null;
  const outputBatchBytes = options.outputBatchBytes ?? DEFAULTS.outputBatchBytes;
  let i = 0;
  while (i < range.length) {
    const group: SegmentInfo[] = [range[i]];
    let inputBytes = range[i].size;
    while (
      i + group.length < range.length &&
      inputBytes + range[i + group.length].size <= config.segmentBytes &&
      range[i + group.length].nextOffset - range[i].baseOffset < 0xffff_ffff
    ) {
      inputBytes += range[i + group.length].size;
      group.push(range[i + group.length]);
    }
    const groupEnd = group[group.length - 1].nextOffset;
    const cleaned = partition.createCleanedSegment(group[0].baseOffset);
    try {
      const out = new BatchWriter(cleaned, now, outputBatchBytes);
      for (const s of group) {
        result.bytesBefore += s.size;
        for (const batch of partition.readSegmentBatches(s.baseOffset)) {
          const records = decodeAll(batch.bytes);
          result.recordsRead += records.length;
          for (const r of records) {
            if (r.key !== null) {
              const latest = keyMap.get(r.key.toString('latin1'));
              if (latest !== undefined && latest > r.offset) continue;
              if (r.value === null) {
                if (r.timestamp < tombstoneCutoff) {
                  result.tombstonesDropped++;
                  continue;
                }
                const expires = r.timestamp + config.deleteRetentionMs;
                if (tombstoneExpiresAt === null || expires < tombstoneExpiresAt) tombstoneExpiresAt = expires;
              }
            }
            out.add(r);
            result.recordsKept++;
          }
          out.coverUpTo(batch.header.baseOffset + batch.header.lastOffsetDelta);
          sinceYield += batch.bytes.length;
          if (sinceYield >= yieldBytes) {
            sinceYield = 0;
            await yieldToLoop();
          }
        }
      }
      out.finish(groupEnd - 1);
      result.bytesAfter += cleaned.size;
      if (options.durable !== false) fsyncDir(partition.dir);
    } catch (err) {
      await cleaned.delete().catch(() => undefined);
      throw err;
    }
    try {
      await partition.replaceSegments(
        group.map((s) => s.baseOffset),
        cleaned,
      );
    } catch (err) {
      // Refused before anything changed (the segments moved meanwhile): drop the cleaned copy. Any
      // other failure may have happened after the swap manifest was written: the cleaned files are
      // then the only copy and stay for recovery on the next open.
      if (err instanceof InvalidArgumentError) await cleaned.delete().catch(() => undefined);
      throw err;
    }
    result.segmentsCleaned += group.length;
    i += group.length;
    await yieldToLoop();
  }

  // 5. The checkpoint.
  const next: CleanerCheckpoint = { cleanUpTo: mappedUpTo, tombstoneExpiresAt };
  writeFileAtomic(
    join(partition.dir, CLEANER_CHECKPOINT_FILE),
    JSON.stringify(next),
    options.durable !== false,
  );
  result.cleanedUpTo = mappedUpTo;
  return result;
}

/**
 * Adds the keys of one batch to the map (offset of the latest occurrence) without decoding values
 * or headers; returns the estimated bytes the map grew by.
 */
function mapKeys(buf: Buffer, keyMap: Map<string, number>): number {
  const baseOffset = buf.readUInt32LE(8) + buf.readUInt32LE(12) * 0x1_0000_0000;
  const count = buf.readUInt32LE(24);
  let pos = BATCH_HEADER_SIZE;
  let grew = 0;
  for (let n = 0; n < count; n++) {
    // bodyLength
    let b = buf[pos++];
    let bodyLength = b & 127;
    let mul = 128;
    while (b >= 128) {
      b = buf[pos++];
      bodyLength += (b & 127) * mul;
      mul *= 128;
    }
    const bodyEnd = pos + bodyLength;
    // offsetDelta
    b = buf[pos++];
    let delta = b & 127;
    mul = 128;
    while (b >= 128) {
      b = buf[pos++];
      delta += (b & 127) * mul;
      mul *= 128;
    }
    // timestampDelta (skipped)
    while (buf[pos++] >= 128);
    // keyLength + 1
    b = buf[pos++];
    let keyLen1 = b & 127;
    mul = 128;
    while (b >= 128) {
      b = buf[pos++];
      keyLen1 += (b & 127) * mul;
      mul *= 128;
    }
    if (keyLen1 > 0) {
      const key = buf.toString('latin1', pos, pos + keyLen1 - 1);
      if (!keyMap.has(key)) grew += KEY_ENTRY_OVERHEAD + keyLen1;
      keyMap.set(key, baseOffset + delta);
    }
    pos = bodyEnd;
  }
  return grew;
}

function decodeAll(buf: Buffer): LogRecord[] {
  const out: LogRecord[] = [];
  const budget: ReadBudget = {
    records: Number.MAX_SAFE_INTEGER,
    bytes: Number.MAX_SAFE_INTEGER,
    tookAny: false,
  };
  decodeRecords(buf, 0, 0, Number.MAX_SAFE_INTEGER, budget, out);
  return out;
}

/**
 * Collects surviving records into output batches of about `targetBytes`. Each batch's base offset is
 * the first offset it covers (the end of the previous batch + 1), so the batches tile the group's
 * offsets without holes in coverage.
 */
class BatchWriter {
  private pending: LogRecord[] = [];
  private pendingBytes = 0;
  /** The first offset the next batch covers. */
  private nextBase: number;
  /** The last offset covered by input seen so far. */
  private covered: number;

  constructor(
    private readonly segment: Segment,
    private readonly now: number,
    private readonly targetBytes: number,
  ) {
    this.nextBase = segment.baseOffset;
    this.covered = segment.baseOffset - 1;
  }

  add(r: LogRecord): void {
    this.pending.push(r);
    this.pendingBytes += (r.key?.length ?? 0) + (r.value?.length ?? 0) + 24;
  }

  /** Input up to `lastOffset` has been seen; writes a batch when enough is pending. */
  coverUpTo(lastOffset: number): void {
    this.covered = lastOffset;
    if (this.pendingBytes >= this.targetBytes) this.flush(lastOffset);
  }

  /** Writes what is pending, the last batch covering up to `lastOffset` (even when empty). */
  finish(lastOffset: number): void {
    if (this.pending.length > 0 || this.nextBase <= lastOffset)
      this.flush(Math.max(lastOffset, this.covered));
  }

  private flush(lastOffset: number): void {
    if (this.pending.length === 0 && lastOffset < this.nextBase) return;
    const batch = encodeBatch(this.nextBase, this.pending, { now: this.now, keepOffsets: true, lastOffset });
    const maxTimestamp = batch.readUInt32LE(36) + batch.readUInt32LE(40) * 0x1_0000_0000;
    this.segment.append(batch, this.nextBase, lastOffset + 1, maxTimestamp);
    this.nextBase = lastOffset + 1;
    this.pending = [];
    this.pendingBytes = 0;
  }
}
