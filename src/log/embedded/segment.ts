/**
 * A segment: one `<baseOffset>.log` file of record batches plus its sparse `<baseOffset>.index`,
 * named with the base offset padded to 20 digits (`00000000000000000000.log`), as Kafka does.
 *
 * The index (`offset-index.ts`) gets an entry about every {@link INDEX_INTERVAL_BYTES} of log. It is a
 * hint: `open` repairs a missing, short or wrong index by walking batch headers from its last valid
 * entry. A seek is a binary search of the in-memory index, then a forward walk of at
 * most one interval — never a scan of the whole file.
 *
 * Recovery (`open` with `recover`): the batches after the last index entry are CRC-checked. A torn
 * or corrupt batch with nothing valid after it is the tail of a crashed write: the file is cut there
 * and the cut reported ({@link SegmentRecovery}: the offsets and bytes lost). A bad batch FOLLOWED by
 * a valid one is corruption in the middle: nothing is cut, the segment is marked damaged there (its
 * `size` and `nextOffset` end at the damaged batch), and every read that reaches it throws a
 * `CorruptLogError` naming the damaged batch (file, byte position, first offset) — never a silent
 * skip; the partition refuses appends until it is truncated at or before the damage.
 *
 * Where damage is reported: at the first batch that fails its checks walking from a trusted
 * boundary (the segment start, an index entry, a batch whose CRC passed), CRC included. A damaged
 * header can make the NEXT batch look wrong (a flipped length or base offset), so a walk that skipped
 * CRCs (the open of a sealed segment, a read skipping batches below its offset) checks them again
 * from its start before it names a position (`locateDamage`). Reads check every batch's CRC too.
 *
 * Descriptors: the log file is a {@link PooledFile} (`file-pool.ts`), opened on demand and closed
 * when idle; the index holds none (`offset-index.ts`).
 *
 * I/O is synchronous (`readSync`/`writeSync` on page-cached files, like LMDB), one write syscall per
 * batch; only `fdatasync` is asynchronous. Positions are u32: a segment stays below 4 GiB.
 */
import { fdatasync, fstatSync, ftruncateSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptLogError } from '../../util/errors.js';
import type { LogRecord } from '../types.js';
import { type FilePool, type PooledFile, StaleFileError, sharedFilePool } from './file-pool.js';
import { unlinkIfExists } from './fs-util.js';
import { OffsetIndex } from './offset-index.js';
import {
  BATCH_HEADER_SIZE,
  type BatchHeader,
  batchCrcOk,
  decodeRecords,
  encodeBatch,
  plausibleBatchLength,
  type ReadBudget,
  readBatchHeader,
} from './record-batch.js';

export const INDEX_INTERVAL_BYTES = 4096;
const MIN_READ_CHUNK = 16 * 1024;
const MAX_READ_CHUNK = 8 * 1024 * 1024;
const SCAN_CHUNK = 1024 * 1024;

/** `00000000000000000042` + ext. */
export function segmentFileName(baseOffset: number, ext: '.log' | '.index'): string {
  return `${String(baseOffset).padStart(20, '0')}${ext}`;
}

/**
 * What opening a segment found wrong:
 * - `torn-tail`: the file ends inside its last batch (a write cut by a crash); cut off.
 * - `corrupt-tail`: the last batches fail their checks and nothing valid follows; cut off.
 * - `corrupt-middle`: a damaged batch with valid ones after it; nothing is cut, reads stop there.
 */
export interface SegmentRecovery {
  readonly reason: 'torn-tail' | 'corrupt-tail' | 'corrupt-middle';
  readonly file: string;
  /** Byte position of the damaged batch (after a cut: the file's new size). */
  readonly position: number;
  /** Bytes cut off (tails) or unreadable from `position` to the end of the file (`corrupt-middle`). */
  readonly bytes: number;
  /** The first offset lost (tails) or unreadable (`corrupt-middle`). */
  readonly fromOffset: number;
  /**
   * One past the last offset lost, as the cut batches' headers still tell it (tails whose headers
   * survived; the active segment's batches are contiguous, which is checked).
   */
  readonly toOffset?: number;
}

/** Where a segment is damaged: the first batch that fails its checks. */
export interface SegmentDamage {
  readonly position: number;
  /** The first offset of the damaged batch (one past the last good batch). */
  readonly offset: number;
  /** What is wrong there, for the message ("a checksum (CRC-32C) mismatch"). */
  readonly what: string;
}

/** The topic and partition a segment belongs to, for error messages. */
export interface SegmentOwner {
  readonly topic: string;
  readonly partition: number;
}

/** The `CorruptLogError` of a damaged batch: where it is, and the command that drops it. */
export function corruptBatchError(file: string, d: SegmentDamage, owner?: SegmentOwner): CorruptLogError {
  const where = owner === undefined ? '' : `topic "${owner.topic}" partition ${owner.partition}, `;
  const fix =
    owner === undefined
      ? 'restore the data directory from a copy'
      : `records before offset ${d.offset} are readable; to drop offset ${d.offset} and everything after it, run ` +
        `"eddy topics truncate ${owner.topic} --partition ${owner.partition} --offset ${d.offset} --yes" ` +
        '(or restore the data directory from a copy)';
  return new CorruptLogError(
    `corrupt record batch in ${where}offset ${d.offset}: ${d.what} at byte ${d.position} of ${file}; ${fix}`,
    {
      at: {
        file,
        position: d.position,
        offset: d.offset,
        topic: owner?.topic,
        partition: owner?.partition,
      },
    },
  );
}

/** A batch as `batches()` yields it: its header and its bytes (the whole batch, header included). */
export interface SegmentBatch {
  readonly header: BatchHeader;
  readonly position: number;
  readonly bytes: Buffer;
}

export interface SegmentOpenOptions {
  /** Open the files for writing (else read-only). */
  writable: boolean;
  /** CRC-check the tail and cut a torn one (the active segment of a writable log). */
  recover: boolean;
  /**
   * Read-only followers of a log another process writes: stop quietly at a bad or partial batch at
   * the end (it may be a write in progress); damage with valid batches after it is marked as such.
   */
  tolerant?: boolean;
  /** Where the log file's descriptor comes from; default `sharedFilePool`. */
  pool?: FilePool;
}

function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

function readFully(fd: number, buf: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function writeFully(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

/** A piece of the log file kept by `Segment.read`: `n` bytes at file position `pos`. */
interface ReadChunk {
  readonly pos: number;
  readonly buf: Buffer;
  readonly n: number;
  /** Positions (in `buf`) of the batches whose CRC was checked. */
  readonly verified: Set<number>;
}

export class Segment {
  /** Set by the partition: named in errors. */
  owner: SegmentOwner | undefined;
  /** The damaged batch this segment ends at (see the file header), or undefined. */
  damage: SegmentDamage | undefined;
  readonly logPath: string;
  readonly indexPath: string;
  /** Bytes of valid batches in the log file. */
  size = 0;
  /** One past the last offset the segment covers (== baseOffset when empty). */
  nextOffset: number;
  /** The largest record timestamp (0 when unknown or empty). */
  maxTimestamp = 0;
  private file!: PooledFile;
  private index!: OffsetIndex;
  private bytesSinceIndex = 0;
  private dirty = false;
  private syncing: Promise<void> | null = null;
  private closed = false;
  /** The last chunk `read` took from the file (see `chunkAt`). */
  private chunk: ReadChunk | undefined;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    readonly writable: boolean,
    suffix = '',
  ) {
    this.logPath = join(dir, segmentFileName(baseOffset, '.log') + suffix);
    this.indexPath = join(dir, segmentFileName(baseOffset, '.index') + suffix);
    this.nextOffset = baseOffset;
  }

  /**
   * Creates a new empty segment (its files must not exist). With `suffix` (`.cleaned`) the files get
   * temporary names: a replacement segment being written by compaction.
   */
  static create(dir: string, baseOffset: number, suffix = '', pool: FilePool = sharedFilePool): Segment {
    const s = new Segment(dir, baseOffset, true, suffix);
    s.file = pool.create(s.logPath);
    try {
      s.index = OffsetIndex.create(s.indexPath);
    } catch (err) {
      s.file.close();
      throw err;
    }
    return s;
  }

  /**
   * Creates the replacement segment of a compaction under temporary names (`<base>.log.cleaned`),
   * deleting leftovers of an earlier attempt first. Write batches with `append` (encoded with
   * `encodeBatch(…, { keepOffsets: true, lastOffset })`), then `seal`, `sync` and `close` it before
   * `Partition.replaceSegments`; `delete` it to give up.
   */
  static createCleaned(dir: string, baseOffset: number, pool?: FilePool): Segment {
    Segment.deleteCleaned(dir, baseOffset);
    return Segment.create(dir, baseOffset, '.cleaned', pool);
  }

  /** Deletes the files of a cleaned segment that will not be swapped in (absent files are fine). */
  static deleteCleaned(dir: string, baseOffset: number): void {
    for (const ext of ['.log', '.index'] as const) {
      unlinkIfExists(`${join(dir, segmentFileName(baseOffset, ext))}.cleaned`);
    }
  }

  /** Opens an existing segment, repairing its index; returns the tail cut when `recover` made one. */
  static open(
    dir: string,
    baseOffset: number,
    options: SegmentOpenOptions,
  ): { segment: Segment; recovery?: SegmentRecovery } {
    const s = new Segment(dir, baseOffset, options.writable);
    s.file = (options.pool ?? sharedFilePool).file(s.logPath, options.writable);
    try {
      const recovery = s.load(options);
      s.index.flush();
      return { segment: s, recovery };
    } catch (err) {
      s.closeFds();
      throw err;
    }
  }

  /**
   * Renames the files of a finished segment written under temporary names (`<base>.log.cleaned`)
   * into place; used by `Partition.replaceSegments`. Exposed for recovery.
   */
  static renameCleaned(dir: string, baseOffset: number): void {
    for (const ext of ['.log', '.index'] as const) {
      const name = join(dir, segmentFileName(baseOffset, ext));
      renameSync(`${name}.cleaned`, name);
    }
  }

  private load(options: SegmentOpenOptions): SegmentRecovery | undefined {
    const fd = this.file.get();
    const fileSize = fstatSync(fd).size;
    this.index = OffsetIndex.open(this.indexPath, options.writable, fileSize);
    let from = 0;
    let expected = this.baseOffset;
    const last = this.index.last();
    if (last !== undefined) {
      const head = Buffer.alloc(BATCH_HEADER_SIZE);
      const ok =
        readFully(fd, head, BATCH_HEADER_SIZE, last.position) === BATCH_HEADER_SIZE &&
        plausibleBatchLength(head, 0) > 0 &&
        readBatchHeader(head, 0).baseOffset === this.baseOffset + last.rel;
      if (ok) {
        from = last.position;
        expected = this.baseOffset + last.rel;
      } else this.index.truncateFrom(0);
    }
    return this.walk(from, expected, fileSize, options);
  }

  /** Walks batches from `from` to the end of the file, rebuilding index entries; recovers the tail. */
  private walk(
    from: number,
    expected: number,
    fileSize: number,
    options: SegmentOpenOptions,
  ): SegmentRecovery | undefined {
    const fd = this.file.get();
    const walkFrom = from;
    const walkExpected = expected;
    let pos = from;
    this.bytesSinceIndex = 0;
    while (pos < fileSize) {
      const want = Math.min(SCAN_CHUNK, fileSize - pos);
      let buf = Buffer.allocUnsafe(want);
      let n = readFully(fd, buf, want, pos);
      let p = 0;
      let bad = false;
      while (p + BATCH_HEADER_SIZE <= n) {
        const len = plausibleBatchLength(buf, p);
        const header = len > 0 ? readBatchHeader(buf, p) : undefined;
        if (header === undefined || header.baseOffset < expected || pos + p + len > fileSize) {
          bad = true;
          break;
        }
        if (p + len > n) {
          if (p > 0) break;
          buf = Buffer.allocUnsafe(len);
          n = readFully(fd, buf, len, pos);
        }
        if (options.recover && !batchCrcOk(buf, p, len)) {
          bad = true;
          break;
        }
        this.noteBatch(pos + p, header.baseOffset, header.baseOffset + header.lastOffsetDelta + 1, header);
        expected = this.nextOffset;
        p += len;
      }
      if (!bad && p + BATCH_HEADER_SIZE > n && pos + p + BATCH_HEADER_SIZE > fileSize && pos + p < fileSize) {
        bad = true; // a partial header at the very end
      }
      if (bad) return this.badBatch(pos + p, expected, fileSize, options, walkFrom, walkExpected);
      pos += p;
    }
    this.size = pos;
    return undefined;
  }

  private noteBatch(position: number, baseOffset: number, nextOffset: number, header: BatchHeader): void {
    if (this.bytesSinceIndex >= INDEX_INTERVAL_BYTES) {
      this.index.add(baseOffset - this.baseOffset, position);
      this.bytesSinceIndex = 0;
    }
    this.bytesSinceIndex += header.batchLength;
    this.size = position + header.batchLength;
    this.nextOffset = nextOffset;
    if (header.maxTimestamp > this.maxTimestamp) this.maxTimestamp = header.maxTimestamp;
  }

  private badBatch(
    position: number,
    expected: number,
    fileSize: number,
    options: SegmentOpenOptions,
    walkFrom: number,
    walkExpected: number,
  ): SegmentRecovery | undefined {
    if (options.tolerant === true && this.findValidBatchAfter(position, expected, fileSize) < 0) {
      this.size = position; // the writer's batch in progress at the tail
      return undefined;
    }
    if (!options.recover) {
      // the walk skipped CRCs: the batch before `position` may be the damaged one
      const fallback = { position, offset: expected, what: 'an unreadable batch header' };
      return this.markDamaged(this.locateDamage(walkFrom, walkExpected, fileSize, fallback), fileSize);
    }
    const what = this.whatIsWrong(position, expected, fileSize);
    if (this.findValidBatchAfter(position, expected, fileSize) >= 0) {
      return this.markDamaged({ position, offset: expected, what: what.what }, fileSize);
    }
    const toOffset = this.claimedEnd(position, expected, fileSize);
    ftruncateSync(this.file.get(), position);
    this.size = position;
    return {
      reason: what.torn ? 'torn-tail' : 'corrupt-tail',
      file: this.logPath,
      position,
      bytes: fileSize - position,
      fromOffset: expected,
      toOffset,
    };
  }

  /** Ends the segment at the damaged batch `d`, which stays on disk (see the file header). */
  private markDamaged(d: SegmentDamage, fileSize: number): SegmentRecovery {
    this.damage = d;
    this.size = d.position;
    this.nextOffset = d.offset;
    this.index.truncateFrom(d.position);
    return {
      reason: 'corrupt-middle',
      file: this.logPath,
      position: d.position,
      bytes: fileSize - d.position,
      fromOffset: d.offset,
    };
  }

  /** What is wrong with the batch at `position`, and whether it is cut short by the end of the file. */
  private whatIsWrong(position: number, expected: number, fileSize: number): { what: string; torn: boolean } {
    const head = Buffer.alloc(BATCH_HEADER_SIZE);
    const n = readFully(this.file.get(), head, BATCH_HEADER_SIZE, position);
    if (n < BATCH_HEADER_SIZE) return { what: `a partial batch header (${n} bytes)`, torn: true };
    const len = plausibleBatchLength(head, 0);
    if (len === 0) return { what: 'an unreadable batch header', torn: false };
    const h = readBatchHeader(head, 0);
    if (h.baseOffset < expected) {
      return { what: `a batch header claiming offset ${h.baseOffset} (expected ${expected})`, torn: false };
    }
    if (position + len > fileSize) {
      return { what: `a batch of ${len} bytes cut short at ${fileSize - position} bytes`, torn: true };
    }
    return { what: 'a checksum (CRC-32C) mismatch', torn: false };
  }

  /**
   * One past the last offset the batches from `position` on claim, while their headers read as the
   * contiguous batches an active segment holds (each `baseOffset` the previous end, `recordCount`
   * = `lastOffsetDelta + 1`); undefined when not even the first one does.
   */
  private claimedEnd(position: number, expected: number, fileSize: number): number | undefined {
    const len = Math.min(fileSize - position, SCAN_CHUNK);
    const buf = Buffer.allocUnsafe(len);
    const n = readFully(this.file.get(), buf, len, position);
    let end: number | undefined;
    let next = expected;
    for (let p = 0; p + BATCH_HEADER_SIZE <= n; ) {
      const bl = plausibleBatchLength(buf, p);
      if (bl === 0) break;
      const h = readBatchHeader(buf, p);
      if (h.baseOffset !== next || h.recordCount !== h.lastOffsetDelta + 1) break;
      end = next = h.baseOffset + h.recordCount;
      p += bl;
    }
    return end;
  }

  /**
   * The first damaged batch walking from `start` (a batch boundary holding offset `offset`) up to
   * `end`, every batch CRC-checked; `fallback` when every batch there is sound.
   */
  private locateDamage(start: number, offset: number, end: number, fallback: SegmentDamage): SegmentDamage {
    const fd = this.file.get();
    const head = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    let pos = start;
    let expected = offset;
    while (pos < end) {
      const at = (what: string): SegmentDamage => ({ position: pos, offset: expected, what });
      if (readFully(fd, head, BATCH_HEADER_SIZE, pos) < BATCH_HEADER_SIZE || pos + BATCH_HEADER_SIZE > end) {
        return at('a partial batch header');
      }
      const len = plausibleBatchLength(head, 0);
      if (len === 0) return at('an unreadable batch header');
      const h = readBatchHeader(head, 0);
      if (pos + len > end) return at(`a batch of ${len} bytes running past the end of the file`);
      const buf = Buffer.allocUnsafe(len);
      if (readFully(fd, buf, len, pos) < len || !batchCrcOk(buf, 0, len)) {
        return at('a checksum (CRC-32C) mismatch');
      }
      if (h.baseOffset < expected)
        return at(`a batch header claiming offset ${h.baseOffset} (expected ${expected})`);
      expected = h.baseOffset + h.lastOffsetDelta + 1;
      pos += len;
    }
    return fallback;
  }

  /** The position of a CRC-valid batch with offsets >= `expected` after `position`, or -1. */
  private findValidBatchAfter(position: number, expected: number, fileSize: number): number {
    const len = fileSize - position;
    const buf = Buffer.allocUnsafe(len);
    const n = readFully(this.file.get(), buf, len, position);
    for (let p = 1; p + BATCH_HEADER_SIZE <= n; p++) {
      if (buf[p + 16] !== 1) continue;
      const bl = plausibleBatchLength(buf, p);
      if (bl === 0 || p + bl > n) continue;
      if (readBatchHeader(buf, p).baseOffset < expected) continue;
      if (batchCrcOk(buf, p, bl)) return position + p;
    }
    return -1;
  }

  /**
   * Read-only followers: picks up batches another process appended since. `shrunk` means the file
   * was truncated or replaced: the caller reopens the segment.
   */
  catchUp(): 'same' | 'grown' | 'shrunk' {
    let fileSize: number;
    try {
      fileSize = fstatSync(this.file.get()).size;
    } catch (err) {
      if (err instanceof StaleFileError) return 'shrunk'; // replaced: reopen
      throw err;
    }
    if (fileSize < this.size) return 'shrunk';
    if (fileSize === this.size) return 'same';
    this.walk(this.size, this.nextOffset, fileSize, { writable: false, recover: false, tolerant: true });
    return 'grown';
  }

  /** The byte position to start reading at to find `offset`: the last index entry at or before it. */
  lookup(offset: number): number {
    return this.index.lookup(offset - this.baseOffset);
  }

  /** Appends one encoded batch (one write syscall). */
  append(batch: Buffer, baseOffset: number, nextOffset: number, maxTimestamp: number): void {
    if (this.bytesSinceIndex >= INDEX_INTERVAL_BYTES) {
      this.index.add(baseOffset - this.baseOffset, this.size);
      this.bytesSinceIndex = 0;
    }
    writeFully(this.file.get(), batch, this.size);
    this.size += batch.length;
    this.bytesSinceIndex += batch.length;
    this.nextOffset = nextOffset;
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp;
    this.dirty = true;
  }

  /**
   * Reads the records at offsets in [`from`, `until`) into `out` within `budget`. Returns true when
   * the read is over (it reached `until` or the budget ran out), false when it reached the end of the
   * segment and the next segment should be read.
   */
  read(from: number, until: number, budget: ReadBudget, out: LogRecord[]): boolean {
    return this.visitBatches(
      from,
      until,
      (buf, p) => decodeRecords(buf, p, from, until, budget, out),
      budget,
    );
  }

  /**
   * `read` of whole batches: views of each CRC-checked batch holding offsets in [`from`, `until`),
   * pushed to `out` undecoded, while the budget allows (by the batches' record counts and lengths;
   * always at least one batch). Same return value as `read`.
   */
  readBatches(from: number, until: number, budget: ReadBudget, out: Buffer[]): boolean {
    return this.visitBatches(
      from,
      until,
      (buf, p, len) => {
        const count = buf.readUInt32LE(p + 24);
        if (budget.tookAny && (count > budget.records || len > budget.bytes)) return false;
        out.push(buf.subarray(p, p + len));
        budget.records -= count;
        budget.bytes -= len;
        budget.tookAny = true;
        return true;
      },
      budget,
    );
  }

  /**
   * Goes over the batches holding offsets in [`from`, `until`), CRC-checking each once, and hands
   * each to `take` (which returns false when the budget stopped it). Returns true when the walk is
   * over (it reached `until`, or the budget ran out), false at the end of the segment.
   */
  private visitBatches(
    from: number,
    until: number,
    take: (buf: Buffer, p: number, len: number) => boolean,
    budget: ReadBudget,
  ): boolean {
    if (this.damage !== undefined && from >= this.nextOffset) throw this.damageError(this.damage);
    let pos = this.lookup(from);
    while (pos < this.size) {
      const chunk = this.chunkAt(pos, budget);
      const { buf, n, verified } = chunk;
      let p = pos - chunk.pos;
      const start = p;
      while (p + BATCH_HEADER_SIZE <= n) {
        const len = plausibleBatchLength(buf, p);
        if (len === 0 || chunk.pos + p + len > this.size) throw this.corruptAt(chunk.pos + p, from);
        if (p + len > n) break;
        const base = buf.readUInt32LE(p + 8) + buf.readUInt32LE(p + 12) * 0x1_0000_0000;
        const next = base + buf.readUInt32LE(p + 20) + 1;
        if (base >= until) return true;
        if (next > from) {
          if (!verified.has(p)) {
            if (!batchCrcOk(buf, p, len)) throw this.corruptAt(chunk.pos + p, from);
            verified.add(p);
          }
          if (!take(buf, p, len)) return true;
          if (next >= until || budget.records <= 0) return true;
        }
        p += len;
      }
      if (p === start) {
        // the batch at pos does not fit the cached chunk: read a chunk that starts at it
        if (chunk.pos === pos) throw this.corruptAt(pos, from);
        this.chunk = undefined;
        continue;
      }
      pos = chunk.pos + p;
    }
    if (this.damage !== undefined) throw this.damageError(this.damage);
    return false;
  }

  /**
   * The chunk of the file holding position `pos` (a batch boundary): the last chunk read when it
   * covers `pos` (a reader going on where it stopped re-reads nothing, and a batch is CRC-checked
   * once per chunk, even when it is far larger than one fetch), else a fresh read from `pos` sized
   * to the budget and to the whole batch there. The bytes of a batch never change once written
   * (truncation and compaction drop the chunk or the segment), so the cached bytes stay valid.
   */
  private chunkAt(pos: number, budget: ReadBudget): ReadChunk {
    const c = this.chunk;
    if (c !== undefined && pos >= c.pos && pos + BATCH_HEADER_SIZE <= c.pos + c.n) {
      const len = plausibleBatchLength(c.buf, pos - c.pos);
      if (len > 0 && pos + len <= c.pos + c.n) return c;
    }
    const estimate = Math.min(budget.bytes, budget.records * 160) + 8192;
    let want = Math.min(this.size - pos, Math.max(MIN_READ_CHUNK, Math.min(MAX_READ_CHUNK, estimate)));
    const fd = this.file.get();
    let buf = Buffer.allocUnsafe(want);
    let n = readFully(fd, buf, want, pos);
    if (n >= BATCH_HEADER_SIZE) {
      const len = plausibleBatchLength(buf, 0);
      if (len > n && pos + len <= this.size) {
        want = len;
        buf = Buffer.allocUnsafe(want);
        n = readFully(fd, buf, want, pos);
        if (n < len) throw this.corruptAt(pos, undefined);
      }
    }
    this.chunk = { pos, buf, n, verified: new Set() };
    return this.chunk;
  }

  /** Forgets the cached read chunk (the partition calls it when reads move to another segment). */
  dropReadCache(): void {
    this.chunk = undefined;
  }

  private damageError(d: SegmentDamage): CorruptLogError {
    return corruptBatchError(this.logPath, d, this.owner);
  }

  /**
   * The error of a read that met a bad batch at `position`, looking for `from`: the damage is located
   * again from the index entry at or before `from` (the read skipped the CRCs of batches below it).
   */
  private corruptAt(position: number, from: number | undefined): CorruptLogError {
    const entry = this.index.floor(from === undefined ? 0 : from - this.baseOffset);
    const fallback = { position, offset: from ?? this.baseOffset, what: 'an unreadable batch header' };
    return this.damageError(
      this.locateDamage(entry.position, this.baseOffset + entry.rel, this.size, fallback),
    );
  }

  /** Every batch of the segment, in order (for compaction, retention and tools). */
  *batches(fromPosition = 0): Generator<SegmentBatch> {
    let pos = fromPosition;
    let expected = fromPosition === 0 ? this.baseOffset : -1;
    // every batch is CRC-checked, so the first bad one is the damaged one
    const bad = (position: number, what: string): CorruptLogError =>
      this.damageError({ position, offset: expected >= 0 ? expected : this.baseOffset, what });
    while (pos < this.size) {
      let want = Math.min(SCAN_CHUNK, this.size - pos);
      // the descriptor is fetched per read: the pool may close it while the generator is suspended
      let buf = Buffer.allocUnsafe(want);
      let n = readFully(this.file.get(), buf, want, pos);
      let p = 0;
      while (p + BATCH_HEADER_SIZE <= n) {
        const len = plausibleBatchLength(buf, p);
        if (len === 0) throw bad(pos + p, 'an unreadable batch header');
        if (p + len > n) {
          if (p > 0) break;
          want = len;
          buf = Buffer.allocUnsafe(want);
          n = readFully(this.file.get(), buf, want, pos);
          if (n < len) throw bad(pos, `a batch of ${len} bytes running past the end of the file`);
        }
        if (!batchCrcOk(buf, p, len)) throw bad(pos + p, 'a checksum (CRC-32C) mismatch');
        const header = readBatchHeader(buf, p);
        yield { header, position: pos + p, bytes: buf.subarray(p, p + len) };
        expected = header.baseOffset + header.lastOffsetDelta + 1;
        p += len;
      }
      if (p === 0) throw bad(pos, 'a partial batch header');
      pos += p;
    }
    if (this.damage !== undefined) throw this.damageError(this.damage);
  }

  /**
   * Removes every record at offsets >= `offset` (baseOffset <= offset <= nextOffset). A batch that
   * straddles `offset` is rewritten with its records below it.
   */
  truncateTo(offset: number, now: number): void {
    if (this.damage !== undefined && offset >= this.nextOffset) {
      // cut the damaged bytes this segment ends at
      this.chunk = undefined;
      this.damage = undefined;
      ftruncateSync(this.file.get(), this.size);
      this.index.truncateFrom(this.size);
      this.bytesSinceIndex = 0;
      this.dirty = true;
      return;
    }
    if (offset >= this.nextOffset) return;
    this.chunk = undefined;
    this.damage = undefined;
    let cut = -1;
    let rewrite: Buffer | null = null;
    for (const b of this.batches(this.lookup(offset))) {
      const next = b.header.baseOffset + b.header.lastOffsetDelta + 1;
      if (b.header.baseOffset >= offset) {
        cut = b.position;
        break;
      }
      if (next > offset) {
        cut = b.position;
        const kept: LogRecord[] = [];
        const budget = { records: Number.MAX_SAFE_INTEGER, bytes: Number.MAX_SAFE_INTEGER, tookAny: false };
        decodeRecords(b.bytes, 0, b.header.baseOffset, offset, budget, kept);
        rewrite = encodeBatch(b.header.baseOffset, kept, {
          now,
          keepOffsets: true,
          lastOffset: offset - 1,
          attributes: b.header.attributes,
        });
        break;
      }
    }
    if (cut < 0) return;
    const fd = this.file.get();
    ftruncateSync(fd, cut);
    this.index.truncateFrom(cut);
    this.size = cut;
    this.nextOffset = offset;
    this.bytesSinceIndex = 0;
    if (rewrite !== null) {
      writeFully(fd, rewrite, cut);
      this.size += rewrite.length;
    }
    this.dirty = true;
  }

  /** True when appends since the last `sync` are not yet durable. */
  get needsSync(): boolean {
    return this.dirty;
  }

  /** fdatasync of the log file; concurrent calls share one in-flight sync (group commit). */
  async sync(): Promise<void> {
    while (this.syncing !== null) await this.syncing;
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    this.index.flush();
    // pinned: the pool must not close (and reuse) the descriptor while the fdatasync runs
    const fd = this.file.pin();
    const p = fdatasyncAsync(fd).then(
      () => {
        this.file.unpin();
        this.syncing = null;
      },
      (err) => {
        this.file.unpin();
        this.syncing = null;
        this.dirty = true;
        throw err;
      },
    );
    this.syncing = p;
    await p;
  }

  /** Writes pending index entries (after a roll the segment is complete). */
  seal(): void {
    this.index.flush();
  }

  private closeFds(): void {
    this.chunk = undefined;
    this.file.close();
  }

  /** Writes the index and closes the files (no fsync). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.syncing !== null) await this.syncing.catch(() => {});
    if (this.closed) return;
    this.closed = true;
    try {
      this.index.flush();
    } catch (err) {
      // the directory was removed under the log: the index (a hint) has nowhere to go
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    } finally {
      this.closeFds();
    }
  }

  /** Closes (no index write) and removes both files. */
  async delete(): Promise<void> {
    while (this.syncing !== null) await this.syncing.catch(() => {});
    if (!this.closed) {
      this.closed = true;
      this.closeFds();
    }
    unlinkIfExists(this.logPath);
    unlinkIfExists(this.indexPath);
  }
}
