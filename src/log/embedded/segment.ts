/**
 * A segment: one `<baseOffset>.log` file of record batches plus its sparse `<baseOffset>.index`,
 * named with the base offset padded to 20 digits (`00000000000000000000.log`), as Kafka does.
 *
 * Index format: 8-byte entries `u32 relativeOffset, u32 position` (little-endian), one about every
 * {@link INDEX_INTERVAL_BYTES} of log, each pointing at the start of a batch whose base offset is
 * `baseOffset + relativeOffset`. The index is a hint: entries are written lazily (in groups, and on
 * `sync`/`close`), and `open` repairs a missing, short or wrong index by walking batch headers from
 * its last valid entry. A seek is a binary search of the in-memory index, then a forward walk of at
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
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CorruptLogError } from '../../util/errors.js';
import type { LogRecord } from '../types.js';
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
const INDEX_ENTRY_SIZE = 8;
const INDEX_WRITE_GROUP = 64;
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
  private indexFd: number;
  private index = new Uint32Array(64);
  private indexCount = 0;
  private indexWritten = 0;
  private bytesSinceIndex = 0;
  private dirty = false;
  private syncing: Promise<void> | null = null;
  private closed = false;

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
    this.indexFd = -1;
  }

  /**
   * Creates a new empty segment (its files must not exist). With `suffix` (`.cleaned`) the files get
   * temporary names: a replacement segment being written by compaction.
   */
  static create(dir: string, baseOffset: number, suffix = ''): Segment {
    const s = new Segment(dir, baseOffset, true, suffix);
    s.fd = openSync(s.logPath, 'wx+');
    s.indexFd = openSync(s.indexPath, 'w+');
    return s;
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
    this.indexFd = openSync(this.indexPath, options.writable ? 'a+' : 'r');
    if (options.writable) {
      closeSync(this.indexFd);
      this.indexFd = openSync(this.indexPath, 'r+');
    }
    this.loadIndex(fileSize);
    let from = 0;
    let expected = this.baseOffset;
    if (this.indexCount > 0) {
      const rel = this.index[(this.indexCount - 1) * 2];
      const pos = this.index[(this.indexCount - 1) * 2 + 1];
      const head = Buffer.alloc(BATCH_HEADER_SIZE);
      const ok =
        readFully(this.fd, head, BATCH_HEADER_SIZE, pos) === BATCH_HEADER_SIZE &&
        plausibleBatchLength(head, 0) > 0 &&
        readBatchHeader(head, 0).baseOffset === this.baseOffset + rel;
      if (ok) {
        from = pos;
        expected = this.baseOffset + rel;
      } else {
        this.indexCount = 0;
        this.indexWritten = 0;
        if (options.writable) ftruncateSync(this.indexFd, 0);
      }
    }
    return this.walk(from, expected, fileSize, options);
  }

  private loadIndex(fileSize: number): void {
    const len = fstatSync(this.indexFd).size;
    const n = Math.floor(len / INDEX_ENTRY_SIZE);
    const buf = Buffer.alloc(n * INDEX_ENTRY_SIZE);
    readFully(this.indexFd, buf, buf.length, 0);
    this.ensureIndexCapacity(n);
    let lastRel = -1;
    let lastPos = -1;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const rel = buf.readUInt32LE(i * 8);
      const pos = buf.readUInt32LE(i * 8 + 4);
      if (rel <= lastRel || pos <= lastPos || pos + BATCH_HEADER_SIZE > fileSize) break;
      this.index[count * 2] = rel;
      this.index[count * 2 + 1] = pos;
      count++;
      lastRel = rel;
      lastPos = pos;
    }
    this.indexCount = count;
    this.indexWritten = count;
    if (count < n && this.writable) ftruncateSync(this.indexFd, count * INDEX_ENTRY_SIZE);
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
      this.addIndexEntry(baseOffset - this.baseOffset, position);
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

  private ensureIndexCapacity(entries: number): void {
    if (entries * 2 <= this.index.length) return;
    let cap = this.index.length;
    while (cap < entries * 2) cap *= 2;
    const next = new Uint32Array(cap);
    next.set(this.index.subarray(0, this.indexCount * 2));
    this.index = next;
  }

  private addIndexEntry(rel: number, position: number): void {
    this.ensureIndexCapacity(this.indexCount + 1);
    this.index[this.indexCount * 2] = rel;
    this.index[this.indexCount * 2 + 1] = position;
    this.indexCount++;
    if (this.writable && this.indexCount - this.indexWritten >= INDEX_WRITE_GROUP) this.writeIndex();
  }

  /** Writes the index entries not yet in the index file. */
  private writeIndex(): void {
    if (this.indexWritten === this.indexCount || !this.writable) return;
    const from = this.indexWritten * 2;
    const to = this.indexCount * 2;
    const bytes = Buffer.from(this.index.buffer, this.index.byteOffset + from * 4, (to - from) * 4);
    // Uint32Array is host-endian; every platform Node supports for this is little-endian.
    writeFully(this.indexFd, Buffer.from(bytes), this.indexWritten * INDEX_ENTRY_SIZE);
    this.indexWritten = this.indexCount;
  }

  /** The byte position to start reading at to find `offset`: the last index entry at or before it. */
  lookup(offset: number): number {
    const rel = offset - this.baseOffset;
    let lo = 0;
    let hi = this.indexCount - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.index[mid * 2] <= rel) {
        found = this.index[mid * 2 + 1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Appends one encoded batch (one write syscall). */
  append(batch: Buffer, baseOffset: number, nextOffset: number, maxTimestamp: number): void {
    if (this.bytesSinceIndex >= INDEX_INTERVAL_BYTES) {
      this.addIndexEntry(baseOffset - this.baseOffset, this.size);
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
      const estimate = Math.min(budget.bytes, budget.records * 160) + 8192;
      let want = Math.min(this.size - pos, Math.max(MIN_READ_CHUNK, Math.min(MAX_READ_CHUNK, estimate)));
      let buf = Buffer.allocUnsafe(want);
      let n = readFully(this.fd, buf, want, pos);
      let p = 0;
      while (p + BATCH_HEADER_SIZE <= n) {
        const len = plausibleBatchLength(buf, p);
        if (len === 0 || pos + p + len > this.size) throw this.corruptAt(pos + p);
        if (p + len > n) {
          if (p > 0) break;
          want = len;
          buf = Buffer.allocUnsafe(want);
          n = readFully(this.fd, buf, want, pos);
          if (n < len) throw this.corruptAt(pos);
        }
        const base = buf.readUInt32LE(p + 8) + buf.readUInt32LE(p + 12) * 0x1_0000_0000;
        const next = base + buf.readUInt32LE(p + 20) + 1;
        if (base >= until) return true;
        if (next > from) {
          if (!batchCrcOk(buf, p, len)) throw this.corruptAt(pos + p);
          if (!decodeRecords(buf, p, from, until, budget, out)) return true;
          if (next >= until || budget.records <= 0) return true;
        }
        p += len;
      }
      if (p === 0) throw this.corruptAt(pos);
      pos += p;
    }
    return false;
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
    while (this.indexCount > 0 && this.index[(this.indexCount - 1) * 2 + 1] >= cut) this.indexCount--;
    if (this.indexWritten > this.indexCount) {
      this.indexWritten = this.indexCount;
      ftruncateSync(this.indexFd, this.indexCount * INDEX_ENTRY_SIZE);
    }
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
    this.writeIndex();
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

  /** Writes pending index entries (after a roll the segment is complete). */
  seal(): void {
    this.writeIndex();
  }

  private closeFds(): void {
    if (this.fd >= 0) closeSync(this.fd);
    if (this.indexFd >= 0) closeSync(this.indexFd);
    this.fd = -1;
    this.indexFd = -1;
  }

  /** Writes the index and closes the files (no fsync). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.syncing !== null) await this.syncing.catch(() => {});
    if (this.closed) return;
    this.closed = true;
    this.writeIndex();
    this.closeFds();
  }

  /** Closes (no index write) and removes both files. */
  async delete(): Promise<void> {
    while (this.syncing !== null) await this.syncing.catch(() => {});
    if (!this.closed) {
      this.closed = true;
      this.closeFds();
    }
    for (const path of [this.logPath, this.indexPath]) {
      try {
        unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
}
