/**
 * The heavy half of a compaction pass (see `compactor.ts`), run on the compaction thread
 * (`compaction-thread.ts`), never on the log's own event loop: building the key map over the dirty
 * segments and writing each group's cleaned replacement segment. Both only read closed segments
 * (immutable once rolled) and write files under temporary names (`<base>.log.cleaned`); the swap
 * that makes a cleaned segment part of the partition stays with the partition's owner.
 *
 * Everything here is synchronous file work, except the final fdatasync of a cleaned segment. A
 * caller can abort between two batches by setting `abort[0]` to 1 (the log does when it closes).
 */
import { AbortedError } from '../../util/errors.js';
import type { LogRecord } from '../types.js';
import { fsyncDir } from './fs-util.js';
import { BATCH_HEADER_SIZE, decodeRecords, encodeBatch, type ReadBudget } from './record-batch.js';
import { Segment } from './segment.js';

/** The estimated bytes of one key map entry besides its key. */
const KEY_ENTRY_OVERHEAD = 64;

/** Key (latin1) → the offset of its latest record in the mapped segments. */
export type KeyMap = Map<string, number>;

export interface MapKeysRequest {
  readonly dir: string;
  /** The cleanable segments, oldest first. */
  readonly segments: readonly { readonly baseOffset: number; readonly nextOffset: number }[];
  /** The cleaner checkpoint: segments ending at or below it are clean and not mapped. */
  readonly cleanUpTo: number;
  readonly maxKeyMapBytes: number;
}

export interface MapKeysResult {
  readonly keysMapped: number;
  /** The map covers every dirty record below this offset (a segment boundary). */
  readonly mappedUpTo: number;
}

export interface CleanGroupRequest {
  readonly dir: string;
  /** Base offsets of the contiguous closed segments to rewrite as one. */
  readonly bases: readonly number[];
  /** One past the group's last offset. */
  readonly groupEnd: number;
  readonly now: number;
  readonly deleteRetentionMs: number;
  readonly outputBatchBytes: number;
  /** fsync the directory once the cleaned files exist. */
  readonly durable: boolean;
}

export interface CleanGroupResult {
  readonly recordsRead: number;
  readonly recordsKept: number;
  readonly tombstonesDropped: number;
  readonly bytesAfter: number;
  /** The earliest expiry of a tombstone kept (null: none kept). */
  readonly tombstoneExpiresAt: number | null;
}

function checkAbort(abort: Int32Array): void {
  if (Atomics.load(abort, 0) !== 0) throw new AbortedError('compaction pass aborted (the log is closing)');
}

/** Calls `fn` with each batch of a closed segment, opened read-only for the duration. */
function forEachBatch(
  dir: string,
  baseOffset: number,
  abort: Int32Array,
  fn: (bytes: Buffer, lastOffset: number) => void,
): void {
  const { segment } = Segment.open(dir, baseOffset, { writable: false, recover: false });
  try {
    for (const batch of segment.batches()) {
      checkAbort(abort);
      fn(batch.bytes, batch.header.baseOffset + batch.header.lastOffsetDelta);
    }
  } finally {
    void segment.close();
  }
}

/**
 * Maps the keys of the dirty segments into `keyMap`, whole segments only, stopping at a segment
 * boundary once the map is over its memory bound (at least one dirty segment is always mapped).
 */
export function mapDirtyKeys(req: MapKeysRequest, keyMap: KeyMap, abort: Int32Array): MapKeysResult {
  let mapBytes = 0;
  let mappedUpTo = Math.max(req.cleanUpTo, req.segments[0]?.baseOffset ?? req.cleanUpTo);
  for (const s of req.segments) {
    if (s.nextOffset <= mappedUpTo) continue;
    if (mapBytes > req.maxKeyMapBytes && mappedUpTo > req.cleanUpTo) break;
    forEachBatch(req.dir, s.baseOffset, abort, (bytes) => {
      mapBytes += mapKeys(bytes, keyMap);
    });
    mappedUpTo = s.nextOffset;
  }
  return { keysMapped: keyMap.size, mappedUpTo };
}

/**
 * Writes the group's survivors into `<first base>.log.cleaned`: a record is dropped when the key map
 * holds a newer offset for its key, or when it is a tombstone older than `now - deleteRetentionMs`;
 * null keys are always kept. Survivors keep their offsets and the last batch ends at the group's last
 * offset. The cleaned segment is sealed, fdatasynced and closed before this returns (its name made
 * durable with `durable`); on any failure its files are deleted.
 */
export async function cleanGroup(
  req: CleanGroupRequest,
  keyMap: KeyMap,
  abort: Int32Array,
): Promise<CleanGroupResult> {
  const tombstoneCutoff = req.now - req.deleteRetentionMs;
  let tombstoneExpiresAt: number | null = null;
  let recordsRead = 0;
  let recordsKept = 0;
  let tombstonesDropped = 0;
  const cleaned = Segment.createCleaned(req.dir, req.bases[0]);
  try {
    const out = new BatchWriter(cleaned, req.now, req.outputBatchBytes);
    for (const base of req.bases) {
      forEachBatch(req.dir, base, abort, (bytes, lastOffset) => {
        const records = decodeAll(bytes);
        recordsRead += records.length;
        for (const r of records) {
          if (r.key !== null) {
            const latest = keyMap.get(r.key.toString('latin1'));
            if (latest !== undefined && latest > r.offset) continue;
            if (r.value === null) {
              if (r.timestamp < tombstoneCutoff) {
                tombstonesDropped++;
                continue;
              }
              const expires = r.timestamp + req.deleteRetentionMs;
              if (tombstoneExpiresAt === null || expires < tombstoneExpiresAt) tombstoneExpiresAt = expires;
            }
          }
          out.add(r);
          recordsKept++;
        }
        out.coverUpTo(lastOffset);
      });
    }
    out.finish(req.groupEnd - 1);
    cleaned.seal();
    await cleaned.sync();
    await cleaned.close();
    if (req.durable) fsyncDir(req.dir);
    return {
      recordsRead,
      recordsKept,
      tombstonesDropped,
      bytesAfter: cleaned.size,
      tombstoneExpiresAt,
    };
  } catch (err) {
    await cleaned.delete().catch(() => undefined);
    throw err;
  }
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
