/**
 * One partition of the embedded log: a directory of segments (see `segment.ts`), the last one
 * active (appended to), rolled when it reaches the topic's `segmentBytes`.
 *
 * Offsets: the earliest offset is the first segment's base offset; the end offset is one past the
 * last appended record. While a transaction is open on the partition, records at or above
 * `txnStart` are on disk but invisible: `visibleEnd` (what `read`, `endOffset` and waiters see) is
 * `txnStart` until commit.
 *
 * Segment replacement (the compaction and retention API, crash-safe): the cleaner writes the
 * replacement segment with `Segment.createCleaned` (`<base>.log.cleaned`; on the compaction thread),
 * seals and fsyncs it, then calls {@link Partition.replaceSegments}: write `swap.json` atomically (the commit
 * point: `{ remove: [bases], add: base | null }`), delete the old files, rename the new ones into
 * place, fsync the directory, delete `swap.json`. Open completes a swap whose `swap.json` exists and
 * deletes `*.cleaned` leftovers of swaps that never reached it.
 *
 * Damage (see segment.ts): a partition whose segment is damaged before its end reads up to the
 * damaged batch — a read returns the good records before it, the next read throws the
 * `CorruptLogError` that names it — and refuses appends (they would land behind unreadable
 * records) until `truncate` cuts it at or before the damaged offset.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptLogError, InvalidArgumentError, OffsetOutOfRangeError } from '../../util/errors.js';
import type { RecordBuffer } from '../record-buffer.js';
import { checkRecordSizes } from '../record-size.js';
import type { AppendRecord, AppendResult, LogRecord } from '../types.js';
import { WaitList } from '../wait-list.js';
import type { FilePool } from './file-pool.js';
import { StaleFileError } from './file-pool.js';
import { fsyncDir, fsyncDirAsync, readJsonIfExists, unlinkIfExists, writeFileAtomic } from './fs-util.js';
import { encodeBatch, type ReadBudget } from './record-batch.js';
import {
  corruptBatchError,
  Segment,
  type SegmentBatch,
  type SegmentRecovery,
  segmentFileName,
} from './segment.js';

/** One segment's part of a partition read (`Segment.read` or `Segment.readBatches`). */
type SegmentReader<T> = (s: Segment, from: number, end: number, budget: ReadBudget, out: T[]) => boolean;

export interface PartitionOptions {
  topic: string;
  partition: number;
  dir: string;
  segmentBytes: number;
  /** The topic's `maxRecordBytes`: `append` refuses larger records. */
  maxRecordBytes: number;
  writable: boolean;
  /** fsync new files' directory entries and swap steps (the `always` and `commit` policies). */
  durable: boolean;
  /** Called after the partition rolled to a new segment (the log offers it to the cleaner). */
  onRoll?: (partition: Partition) => void;
  /** Where segment files get their descriptors; default `sharedFilePool`. */
  pool?: FilePool;
}

/** What the cleaner (compaction, retention) sees of a segment. */
export interface SegmentInfo {
  readonly baseOffset: number;
  /** One past the last offset the segment covers. */
  readonly nextOffset: number;
  readonly size: number;
  readonly maxTimestamp: number;
  readonly logPath: string;
  /** The active segment is still appended to: never replace or delete it. */
  readonly active: boolean;
}

/** What opening a partition repaired. */
export interface PartitionRecovery {
  /** Tails cut off and damage found, in segment order (see `SegmentRecovery`). */
  segments: SegmentRecovery[];
  completedSwap?: { remove: number[]; add: number | null };
  removedLeftovers: string[];
}

/**
 * How many partitions `syncPartitions` fsyncs at once: each in-flight fdatasync pins a descriptor
 * (`file-pool.ts`), so a flush of 10,000 partitions must not start 10,000 of them. The thread pool
 * that runs them is 4 threads by default, so a few dozen in flight lose nothing.
 */
export const SYNC_CONCURRENCY = 32;

/** `sync()` of every partition, at most {@link SYNC_CONCURRENCY} at a time; the first failure rejects. */
export async function syncPartitions(parts: readonly Partition[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < parts.length) await parts[next++].sync();
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < Math.min(SYNC_CONCURRENCY, parts.length); i++) workers.push(worker());
  await Promise.all(workers);
}

/** Base offsets of the segments in `dir`, ascending. */
function listBases(dir: string): number[] {
  return readdirSync(dir)
    .filter((f) => /^\d{20}\.log$/.test(f))
    .map((f) => Number(f.slice(0, 20)))
    .sort((a, b) => a - b);
}

interface SwapManifest {
  remove: number[];
  add: number | null;
}

export class Partition {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  segmentBytes: number;
  maxRecordBytes: number;
  /** The open transaction's first offset here, or null. */
  txnStart: number | null = null;
  /**
   * Compaction uses no record at offsets >= this (`Log.holdCompaction`; Infinity: no hold).
   * Kept and loaded from its file by the compactor (`compactionHoldOf`); undefined until loaded.
   */
  compactionHold: number | undefined = undefined;
  /** The hold this process last wrote to the partition's hold file (undefined: none yet). */
  savedHold: number | undefined = undefined;
  readonly waiters = new WaitList();
  private segments: Segment[] = [];
  private dirDirty = false;
  private closed = false;
  /** The segment the last read ended in (the one whose read chunk is cached). */
  private lastRead: Segment | undefined;
  /** A segment may be damaged (checked by `append`, kept exact by `open` and `truncate`). */
  private hasDamage = false;

  private constructor(private readonly options: PartitionOptions) {
    this.topic = options.topic;
    this.partition = options.partition;
    this.dir = options.dir;
    this.segmentBytes = options.segmentBytes;
    this.maxRecordBytes = options.maxRecordBytes;
  }

  /** A new partition in `options.dir`, which must exist and be empty (a topic being created). */
  static create(options: PartitionOptions): Partition {
    const p = new Partition(options);
    p.adopt(Segment.create(options.dir, 0, '', options.pool));
    p.dirDirty = true;
    return p;
  }

  /** Opens (and recovers) the partition in `options.dir`, which must exist. */
  static open(options: PartitionOptions): { partition: Partition; recovery: PartitionRecovery } {
    const p = new Partition(options);
    const recovery: PartitionRecovery = { segments: [], removedLeftovers: [] };
    if (options.writable) p.recoverSwap(recovery);
    const bases = listBases(options.dir);
    try {
      for (let i = 0; i < bases.length; i++) {
        const last = i === bases.length - 1;
        const { segment, recovery: found } = Segment.open(options.dir, bases[i], {
          writable: options.writable,
          recover: last && options.writable,
          tolerant: !options.writable,
          pool: options.pool,
        });
        p.adopt(segment);
        if (found) recovery.segments.push(found);
      }
      if (p.segments.length === 0) {
        if (!options.writable)
          throw new InvalidArgumentError(`partition directory ${options.dir} has no segment`);
        p.adopt(Segment.create(options.dir, 0, '', options.pool));
        p.dirDirty = true;
      }
    } catch (err) {
      for (const s of p.segments) void s.close();
      throw err;
    }
    p.hasDamage = p.damaged !== undefined;
    return { partition: p, recovery };
  }

  /** Adds `s` as the newest segment, owned by this partition. */
  private adopt(s: Segment): void {
    s.owner = this;
    this.segments.push(s);
  }

  /** The first segment damaged before its end (see the file header), or undefined. */
  get damaged(): Segment | undefined {
    for (const s of this.segments) if (s.damage !== undefined) return s;
    return undefined;
  }

  private damageError(s: Segment): CorruptLogError {
    return corruptBatchError(s.logPath, s.damage!, this);
  }

  private recoverSwap(recovery: PartitionRecovery): void {
    const manifestPath = join(this.dir, 'swap.json');
    const manifest = readJsonIfExists<SwapManifest>(manifestPath);
    if (manifest !== undefined) {
      this.finishSwap(manifest);
      recovery.completedSwap = manifest;
    }
    for (const f of readdirSync(this.dir)) {
      if (f.endsWith('.cleaned') || f.endsWith('.tmp')) {
        unlinkIfExists(join(this.dir, f));
        recovery.removedLeftovers.push(join(this.dir, f));
      }
    }
  }

  /** Step 4 of a swap, idempotent: delete the old files, rename the cleaned ones into place. */
  private finishSwap(manifest: SwapManifest): void {
    for (const base of manifest.remove) {
      if (base === manifest.add) continue;
      unlinkIfExists(join(this.dir, segmentFileName(base, '.log')));
      unlinkIfExists(join(this.dir, segmentFileName(base, '.index')));
    }
    if (manifest.add !== null) {
      if (readdirSync(this.dir).includes(`${segmentFileName(manifest.add, '.log')}.cleaned`)) {
        unlinkIfExists(join(this.dir, segmentFileName(manifest.add, '.index')));
        Segment.renameCleaned(this.dir, manifest.add);
      }
    }
    fsyncDir(this.dir);
    unlinkIfExists(join(this.dir, 'swap.json'));
    // durable too: a manifest back after a power loss would delete its bases again, and a
    // truncation followed by appends may have reused one of them for new records
    fsyncDir(this.dir);
  }

  /**
   * Read-only partitions (a follower of a log another process writes): picks up appends, rolls,
   * truncations and segment swaps made on disk since the last call.
   */
  refresh(): void {
    for (let attempt = 0; ; attempt++) {
      try {
        this.refreshOnce();
        return;
      } catch (err) {
        // A file the writer removed between listing and opening: look again.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
  }

  private refreshOnce(force = false): void {
    const bases = listBases(this.dir);
    const known = this.segments.map((s) => s.baseOffset);
    const sameStart = bases.length >= known.length && known.every((b, i) => bases[i] === b);
    if (force || !sameStart || this.active.catchUp() === 'shrunk') {
      const old = this.segments;
      this.segments = [];
      this.lastRead = undefined;
      for (const s of old) void s.close();
      for (const b of bases) this.adopt(this.openReadOnly(b));
      return;
    }
    for (const b of bases.slice(known.length)) this.adopt(this.openReadOnly(b));
  }

  private openReadOnly(base: number): Segment {
    const options = { writable: false, recover: false, tolerant: true, pool: this.options.pool };
    return Segment.open(this.dir, base, options).segment;
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1];
  }

  get earliestOffset(): number {
    return this.segments[0].baseOffset;
  }

  /** One past the last record on disk (transactional ones included). */
  get endOffset(): number {
    return this.active.nextOffset;
  }

  /** What readers see: the end offset, or the open transaction's start. */
  get visibleEnd(): number {
    return this.txnStart ?? this.active.nextOffset;
  }

  /** Encodes `records` as one batch and writes it (one write syscall), rolling first if needed. */
  append(records: readonly AppendRecord[], now: number, attributes = 0): AppendResult {
    const baseOffset = this.writableEnd();
    if (records.length === 0) return { baseOffset, nextOffset: baseOffset };
    checkRecordSizes(this.topic, this.partition, records, this.maxRecordBytes);
    const batch = encodeBatch(baseOffset, records, { now, attributes, scratch: true });
    return this.writeBatch(batch, baseOffset, baseOffset + records.length);
  }

  /** `append` of records encoded already (`RecordBuffer`): only the header and CRC are written. */
  appendBuffer(records: RecordBuffer, now: number, attributes = 0): AppendResult {
    const baseOffset = this.writableEnd();
    const n = records.count;
    if (n === 0) return { baseOffset, nextOffset: baseOffset };
    records.checkSizes(this.topic, this.partition, this.maxRecordBytes);
    return this.writeBatch(records.seal(baseOffset, now, attributes), baseOffset, baseOffset + n);
  }

  /** The end offset, once the partition is known to take appends (no damage found by a reader). */
  private writableEnd(): number {
    if (this.hasDamage) {
      const d = this.damaged;
      if (d !== undefined) throw this.damageError(d);
      this.hasDamage = false;
    }
    return this.endOffset;
  }

  private writeBatch(batch: Buffer, baseOffset: number, nextOffset: number): AppendResult {
    if (this.active.size > 0 && this.active.size + batch.length > this.segmentBytes) this.roll();
    this.active.append(
      batch,
      baseOffset,
      nextOffset,
      batch.readUInt32LE(36) + batch.readUInt32LE(40) * 2 ** 32,
    );
    if (this.txnStart === null) this.waiters.notify(nextOffset);
    return { baseOffset, nextOffset };
  }

  /** Starts a new active segment at the end offset. */
  roll(): void {
    this.active.seal();
    this.adopt(Segment.create(this.dir, this.endOffset, '', this.options.pool));
    this.dirDirty = true;
    // The log offers the partition to the cleaner (compaction, retention) here.
    this.options.onRoll?.(this);
  }

  /** Records at offsets >= `offset`, up to the visible end, within the budget. */
  read(offset: number, maxRecords: number, maxBytes: number): LogRecord[] {
    return this.readRetrying(offset, maxRecords, maxBytes, [] as LogRecord[], (seg, from, end, budget, out) =>
      seg.read(from, end, budget, out),
    );
  }

  /**
   * `read` as whole batches, undecoded (views of the read chunks): the batches holding the records
   * `read` would return, and `until`, the visible end (records at or past it are not to be read).
   */
  readBatches(offset: number, maxRecords: number, maxBytes: number): { batches: Buffer[]; until: number } {
    const batches = this.readRetrying(
      offset,
      maxRecords,
      maxBytes,
      [] as Buffer[],
      (seg, from, end, budget, out) => seg.readBatches(from, end, budget, out),
    );
    return { batches, until: this.visibleEnd };
  }

  private readRetrying<T>(
    offset: number,
    maxRecords: number,
    maxBytes: number,
    out: T[],
    readSegment: SegmentReader<T>,
  ): T[] {
    try {
      return this.readOnce(offset, maxRecords, maxBytes, out, readSegment);
    } catch (err) {
      // a follower whose segment file the writer replaced (a swap): reopen, read again
      if (!(err instanceof StaleFileError) || this.options.writable) throw err;
      this.refreshOnce(true);
      out.length = 0;
      return this.readOnce(offset, maxRecords, maxBytes, out, readSegment);
    }
  }

  private readOnce<T>(
    offset: number,
    maxRecords: number,
    maxBytes: number,
    out: T[],
    readSegment: SegmentReader<T>,
  ): T[] {
    const end = this.visibleEnd;
    const earliest = this.earliestOffset;
    if (offset < earliest || offset > end) {
      throw new OffsetOutOfRangeError(this.topic, this.partition, offset, earliest, end);
    }
    if (offset === end) {
      if (this.active.damage !== undefined) throw this.damageError(this.active);
      return out;
    }
    const budget = { records: maxRecords, bytes: maxBytes, tookAny: false };
    let i = this.segmentIndexFor(offset);
    let from = offset;
    try {
      for (; i < this.segments.length; i++) {
        const s = this.segments[i];
        if (s.nextOffset <= from && s.damage === undefined) continue;
        // one segment at a time keeps a read chunk cached
        if (this.lastRead !== s) {
          this.lastRead?.dropReadCache();
          this.lastRead = s;
        }
        if (readSegment(s, from, end, budget, out)) break;
        from = Math.max(from, s.nextOffset);
      }
    } catch (err) {
      // the good records before the damage first; the next read, starting at it, throws
      if (err instanceof CorruptLogError && out.length > 0) return out;
      throw err;
    }
    return out;
  }

  /** Index of the last segment whose base offset is <= offset. */
  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Removes every record at offsets >= `offset` (earliest <= offset <= end). */
  async truncate(offset: number, now: number): Promise<void> {
    const end = this.endOffset;
    if (offset < this.earliestOffset || offset > end) {
      throw new OffsetOutOfRangeError(this.topic, this.partition, offset, this.earliestOffset, end);
    }
    if (offset === end && !this.hasDamage) return;
    while (this.segments.length > 1 && this.active.baseOffset >= offset) {
      const s = this.segments.pop()!;
      await s.delete();
      this.dirDirty = true;
    }
    this.active.truncateTo(offset, now);
    this.hasDamage = this.damaged !== undefined;
  }

  /** Makes every append so far durable: fdatasync of touched segments, fsync of the directory. */
  async sync(): Promise<void> {
    const syncs = this.segments.filter((s) => s.needsSync).map((s) => s.sync());
    if (this.dirDirty) {
      // off the event loop, beside the segments' fdatasyncs: on ext4 a directory's fsync waits for
      // the journal commit, which writes the data of the files in it first — it held the loop
      // 7-15 ms (109 ms under strace) at commits after a segment roll
      this.dirDirty = false;
      syncs.push(
        fsyncDirAsync(this.dir).catch((err: unknown) => {
          this.dirDirty = true;
          throw err;
        }),
      );
    }
    await Promise.all(syncs);
  }

  // ---- The cleaner's API (compaction and retention; see the file header). ----

  /** The segments, oldest first; the last one is active. */
  listSegments(): SegmentInfo[] {
    const last = this.segments.length - 1;
    return this.segments.map((s, i) => ({
      baseOffset: s.baseOffset,
      nextOffset: s.nextOffset,
      size: s.size,
      maxTimestamp: s.maxTimestamp,
      logPath: s.logPath,
      active: i === last,
    }));
  }

  /** The batches of the segment with this base offset, in order, CRC-checked. */
  readSegmentBatches(baseOffset: number): Generator<SegmentBatch> {
    const s = this.segments.find((x) => x.baseOffset === baseOffset);
    if (s === undefined) throw new InvalidArgumentError(`${this.dir} has no segment at ${baseOffset}`);
    return s.batches();
  }

  /**
   * Replaces the contiguous, non-active segments with base offsets `remove` by the cleaned segment
   * based at `add` (written under temporary names with `Segment.createCleaned`, base offset = the
   * first removed one, already sealed, synced and closed) or by nothing (`add` null: retention; then
   * `remove` must start with the first segment). Crash-safe (see the file header).
   */
  async replaceSegments(remove: readonly number[], add: number | null): Promise<void> {
    const first = this.segments.findIndex((s) => s.baseOffset === remove[0]);
    const ok =
      remove.length > 0 &&
      first >= 0 &&
      first + remove.length < this.segments.length &&
      remove.every((b, i) => this.segments[first + i].baseOffset === b) &&
      (add === null ? first === 0 : add === remove[0]);
    if (!ok) {
      throw new InvalidArgumentError(
        `cannot replace segments [${remove.join(', ')}] of ${this.dir}: they must be contiguous, not the active one, ` +
          'and the replacement must start at the first of them (or, to delete, they must be the oldest)',
      );
    }
    writeFileAtomic(join(this.dir, 'swap.json'), JSON.stringify({ remove, add }), true);
    const olds = this.segments.splice(first, remove.length);
    for (const s of olds) await s.close();
    this.finishSwap({ remove: [...remove], add });
    if (add !== null) {
      const { segment } = Segment.open(this.dir, add, {
        writable: this.options.writable,
        recover: false,
        pool: this.options.pool,
      });
      segment.owner = this;
      this.segments.splice(first, 0, segment);
    }
  }

  /** Closes every segment (no fsync) and cancels waiters. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.cancelAll();
    for (const s of this.segments) await s.close();
  }
}
