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
 * and the cut reported. A bad batch FOLLOWED by a valid one is corruption in the middle: a
 * `CorruptLogError` naming the file and position, never a silent skip. Reads check every batch's
 * CRC too.
 *
 * I/O is synchronous (`readSync`/`writeSync` on page-cached files, like LMDB), one write syscall per
 * batch; only `fdatasync` is asynchronous. Positions are u32: a segment stays below 4 GiB.
 */
import {
  closeSync,
  fdatasync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CorruptLogError } from '../../util/errors.js';
import type { LogRecord } from '../types.js';
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

/** A torn or corrupt tail cut off by recovery. */
export interface TailTruncation {
  readonly file: string;
  /** Byte position of the cut (the file's new size). */
  readonly position: number;
  readonly droppedBytes: number;
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
   * the end (it may be a write in progress) instead of throwing.
   */
  tolerant?: boolean;
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
  readonly logPath: string;
  readonly indexPath: string;
  /** Bytes of valid batches in the log file. */
  size = 0;
  /** One past the last offset the segment covers (== baseOffset when empty). */
  nextOffset: number;
  /** The largest record timestamp (0 when unknown or empty). */
  maxTimestamp = 0;
  private fd: number;
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
    this.fd = -1;
  }

  /**
   * Creates a new empty segment (its files must not exist). With `suffix` (`.cleaned`) the files get
   * temporary names: a replacement segment being written by compaction.
   */
  static create(dir: string, baseOffset: number, suffix = ''): Segment {
    const s = new Segment(dir, baseOffset, true, suffix);
    s.fd = openSync(s.logPath, 'wx+');
    s.index = OffsetIndex.create(s.indexPath);
    return s;
  }

  /**
   * Creates the replacement segment of a compaction under temporary names (`<base>.log.cleaned`),
   * deleting leftovers of an earlier attempt first. Write batches with `append` (encoded with
   * `encodeBatch(…, { keepOffsets: true, lastOffset })`), then `seal`, `sync` and `close` it before
   * `Partition.replaceSegments`; `delete` it to give up.
   */
  static createCleaned(dir: string, baseOffset: number): Segment {
    Segment.deleteCleaned(dir, baseOffset);
    return Segment.create(dir, baseOffset, '.cleaned');
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
  ): { segment: Segment; truncated?: TailTruncation } {
    const s = new Segment(dir, baseOffset, options.writable);
    s.fd = openSync(s.logPath, options.writable ? 'r+' : 'r');
    try {
      const truncated = s.load(options);
      // Only the active segment writes its index: the others hold just their log file open.
      if (!options.recover) s.index.release();
      return { segment: s, truncated };
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

  private load(options: SegmentOpenOptions): TailTruncation | undefined {
    const fileSize = fstatSync(this.fd).size;
    this.index = OffsetIndex.open(this.indexPath, options.writable, fileSize);
    let from = 0;
    let expected = this.baseOffset;
    const last = this.index.last();
    if (last !== undefined) {
      const head = Buffer.alloc(BATCH_HEADER_SIZE);
      const ok =
        readFully(this.fd, head, BATCH_HEADER_SIZE, last.position) === BATCH_HEADER_SIZE &&
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
  ): TailTruncation | undefined {
    let pos = from;
    this.bytesSinceIndex = 0;
    while (pos < fileSize) {
      const want = Math.min(SCAN_CHUNK, fileSize - pos);
      let buf = Buffer.allocUnsafe(want);
      let n = readFully(this.fd, buf, want, pos);
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
          n = readFully(this.fd, buf, len, pos);
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
      if (bad) return this.badBatch(pos + p, expected, fileSize, options);
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
  ): TailTruncation | undefined {
    const at = `${this.logPath} at byte ${position} (expected offset ${expected})`;
    if (options.tolerant === true) {
      this.size = position;
      return undefined;
    }
    if (!options.recover) {
      throw new CorruptLogError(`corrupt record batch in ${at}; the file is damaged before its end`);
    }
    const valid = this.findValidBatchAfter(position, expected, fileSize);
    if (valid >= 0) {
      throw new CorruptLogError(
        `corrupt record batch in ${at}, followed by a valid batch at byte ${valid}: ` +
          'the log is damaged in the middle; restore the directory from a copy or truncate the partition',
      );
    }
    ftruncateSync(this.fd, position);
    this.size = position;
    return { file: this.logPath, position, droppedBytes: fileSize - position };
  }

  /** The position of a CRC-valid batch with offsets >= `expected` after `position`, or -1. */
  private findValidBatchAfter(position: number, expected: number, fileSize: number): number {
    const len = fileSize - position;
    const buf = Buffer.allocUnsafe(len);
    const n = readFully(this.fd, buf, len, position);
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
    const fileSize = fstatSync(this.fd).size;
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
    writeFully(this.fd, batch, this.size);
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
    let pos = this.lookup(from);
    while (pos < this.size) {
      const chunk = this.chunkAt(pos, budget);
      const { buf, n, verified } = chunk;
      let p = pos - chunk.pos;
      const start = p;
      while (p + BATCH_HEADER_SIZE <= n) {
        const len = plausibleBatchLength(buf, p);
        if (len === 0 || chunk.pos + p + len > this.size) throw this.corruptAt(chunk.pos + p);
        if (p + len > n) break;
        const base = buf.readUInt32LE(p + 8) + buf.readUInt32LE(p + 12) * 0x1_0000_0000;
        const next = base + buf.readUInt32LE(p + 20) + 1;
        if (base >= until) return true;
        if (next > from) {
          if (!verified.has(p)) {
            if (!batchCrcOk(buf, p, len)) throw this.corruptAt(chunk.pos + p);
            verified.add(p);
          }
          if (!decodeRecords(buf, p, from, until, budget, out)) return true;
          if (next >= until || budget.records <= 0) return true;
        }
        p += len;
      }
      if (p === start) {
        // the batch at pos does not fit the cached chunk: read a chunk that starts at it
        if (chunk.pos === pos) throw this.corruptAt(pos);
        this.chunk = undefined;
        continue;
      }
      pos = chunk.pos + p;
    }
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
    let buf = Buffer.allocUnsafe(want);
    let n = readFully(this.fd, buf, want, pos);
    if (n >= BATCH_HEADER_SIZE) {
      const len = plausibleBatchLength(buf, 0);
      if (len > n && pos + len <= this.size) {
        want = len;
        buf = Buffer.allocUnsafe(want);
        n = readFully(this.fd, buf, want, pos);
        if (n < len) throw this.corruptAt(pos);
      }
    }
    this.chunk = { pos, buf, n, verified: new Set() };
    return this.chunk;
  }

  /** Forgets the cached read chunk (the partition calls it when reads move to another segment). */
  dropReadCache(): void {
    this.chunk = undefined;
  }

  private corruptAt(position: number): CorruptLogError {
    return new CorruptLogError(`corrupt record batch in ${this.logPath} at byte ${position}`);
  }

  /** Every batch of the segment, in order (for compaction, retention and tools). */
  *batches(fromPosition = 0): Generator<SegmentBatch> {
    let pos = fromPosition;
    while (pos < this.size) {
      let want = Math.min(SCAN_CHUNK, this.size - pos);
      let buf = Buffer.allocUnsafe(want);
      let n = readFully(this.fd, buf, want, pos);
      let p = 0;
      while (p + BATCH_HEADER_SIZE <= n) {
        const len = plausibleBatchLength(buf, p);
        if (len === 0) throw this.corruptAt(pos + p);
        if (p + len > n) {
          if (p > 0) break;
          want = len;
          buf = Buffer.allocUnsafe(want);
          n = readFully(this.fd, buf, want, pos);
          if (n < len) throw this.corruptAt(pos);
        }
        if (!batchCrcOk(buf, p, len)) throw this.corruptAt(pos + p);
        yield { header: readBatchHeader(buf, p), position: pos + p, bytes: buf.subarray(p, p + len) };
        p += len;
      }
      if (p === 0) throw this.corruptAt(pos);
      pos += p;
    }
  }

  /**
   * Removes every record at offsets >= `offset` (baseOffset <= offset <= nextOffset). A batch that
   * straddles `offset` is rewritten with its records below it.
   */
  truncateTo(offset: number, now: number): void {
    if (offset >= this.nextOffset) return;
    this.chunk = undefined;
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
    ftruncateSync(this.fd, cut);
    this.index.truncateFrom(cut);
    this.size = cut;
    this.nextOffset = offset;
    this.bytesSinceIndex = 0;
    if (rewrite !== null) {
      writeFully(this.fd, rewrite, cut);
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
    const p = fdatasyncAsync(this.fd).then(
      () => {
        this.syncing = null;
      },
      (err) => {
        this.syncing = null;
        this.dirty = true;
        throw err;
      },
    );
    this.syncing = p;
    await p;
  }

  /** Writes pending index entries and closes the index file (after a roll the segment is complete). */
  seal(): void {
    this.index.release();
  }

  private closeFds(): void {
    this.chunk = undefined;
    if (this.fd >= 0) closeSync(this.fd);
    this.index?.close();
    this.fd = -1;
  }

  /** Writes the index and closes the files (no fsync). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.syncing !== null) await this.syncing.catch(() => {});
    if (this.closed) return;
    this.closed = true;
    this.index.flush();
    this.closeFds();
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
