/**
 * The sparse offset index of one segment (`<baseOffset>.index`): 8-byte entries
 * `u32 relativeOffset, u32 position` (little-endian), strictly increasing in both, each pointing at
 * the start of a batch whose base offset is `segmentBase + relativeOffset`. The segment adds one
 * about every `INDEX_INTERVAL_BYTES` of log.
 *
 * The index is a hint, never trusted blindly: entries are kept in memory (a growable Uint32Array)
 * and written to the file lazily, in groups of {@link INDEX_WRITE_GROUP} and on `flush()`; `open`
 * keeps the longest valid prefix of the file (increasing, inside the log) and cuts the rest; the
 * segment then checks the last entry against the log and walks the log from there to rebuild what is
 * missing. Losing the file costs a rebuild, never data.
 *
 * The file descriptor is opened only when needed: `release()` (after a segment is sealed or opened
 * as a closed one) flushes and closes it, and a later write reopens it, so a partition with many
 * segments holds one descriptor per segment (the log file's), not two.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

const ENTRY_SIZE = 8;
export const INDEX_WRITE_GROUP = 64;

export class OffsetIndex {
  private entries = new Uint32Array(128);
  private n = 0;
  private written = 0;
  private fd: number;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly writable: boolean,
  ) {
    this.fd = fd;
  }

  /** A new, empty index file (truncated if it exists). */
  static create(path: string): OffsetIndex {
    return new OffsetIndex(path, openSync(path, 'w+'), true);
  }

  /** Opens (creating if missing, when writable) and loads the valid prefix of entries below `logSize`. */
  static open(path: string, writable: boolean, logSize: number): OffsetIndex {
    let fd: number;
    if (writable) {
      closeSync(openSync(path, 'a'));
      fd = openSync(path, 'r+');
    } else {
      try {
        fd = openSync(path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        fd = -1;
      }
    }
    const index = new OffsetIndex(path, fd, writable);
    if (fd >= 0) index.load(logSize);
    return index;
  }

  private load(logSize: number): void {
    const total = Math.floor(fstatSync(this.fd).size / ENTRY_SIZE);
    const buf = Buffer.alloc(total * ENTRY_SIZE);
    let done = 0;
    while (done < buf.length) {
      const r = readSync(this.fd, buf, done, buf.length - done, done);
      if (r === 0) break;
      done += r;
    }
    this.reserve(total);
    let lastRel = -1;
    let lastPos = -1;
    for (let i = 0; i < total; i++) {
      const rel = buf.readUInt32LE(i * ENTRY_SIZE);
      const pos = buf.readUInt32LE(i * ENTRY_SIZE + 4);
      if (rel <= lastRel || pos <= lastPos || pos >= logSize) break;
      this.entries[this.n * 2] = rel;
      this.entries[this.n * 2 + 1] = pos;
      this.n++;
      lastRel = rel;
      lastPos = pos;
    }
    this.written = this.n;
    if (this.n < total && this.writable) ftruncateSync(this.fd, this.n * ENTRY_SIZE);
  }

  get count(): number {
    return this.n;
  }

  /** The last entry, or undefined when empty. */
  last(): { rel: number; position: number } | undefined {
    if (this.n === 0) return undefined;
    return { rel: this.entries[(this.n - 1) * 2], position: this.entries[(this.n - 1) * 2 + 1] };
  }

  private reserve(count: number): void {
    if (count * 2 <= this.entries.length) return;
    let cap = this.entries.length;
    while (cap < count * 2) cap *= 2;
    const next = new Uint32Array(cap);
    next.set(this.entries.subarray(0, this.n * 2));
    this.entries = next;
  }

  /** Adds an entry (greater than the last one in both fields). */
  add(rel: number, position: number): void {
    this.reserve(this.n + 1);
    this.entries[this.n * 2] = rel;
    this.entries[this.n * 2 + 1] = position;
    this.n++;
    if (this.n - this.written >= INDEX_WRITE_GROUP) this.flush();
  }

  /** The position of the last entry whose relative offset is <= `rel`, or 0. */
  lookup(rel: number): number {
    let lo = 0;
    let hi = this.n - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid * 2] <= rel) {
        found = this.entries[mid * 2 + 1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Drops the entries at positions >= `position` (in memory and in the file). */
  truncateFrom(position: number): void {
    while (this.n > 0 && this.entries[(this.n - 1) * 2 + 1] >= position) this.n--;
    if (this.written > this.n) {
      this.written = this.n;
      if (this.writable) ftruncateSync(this.reopen(), this.n * ENTRY_SIZE);
    }
  }

  /** The descriptor, reopened for writing after `release()`. */
  private reopen(): number {
    if (this.fd < 0) {
      closeSync(openSync(this.path, 'a'));
      this.fd = openSync(this.path, 'r+');
    }
    return this.fd;
  }

  /** Flushes and closes the descriptor; the index stays usable (writes reopen it). */
  release(): void {
    this.flush();
    this.close();
  }

  /** Writes the entries not yet in the file (no fsync: the index is rebuilt if lost). */
  flush(): void {
    if (this.written === this.n || !this.writable) return;
    this.reopen();
    // Uint32Array is host-endian: little-endian on every platform Node supports for this.
    const bytes = Buffer.from(
      this.entries.buffer,
      this.written * ENTRY_SIZE,
      (this.n - this.written) * ENTRY_SIZE,
    );
    let done = 0;
    while (done < bytes.length) {
      done += writeSync(this.fd, bytes, done, bytes.length - done, this.written * ENTRY_SIZE + done);
    }
    this.written = this.n;
  }

  /** Closes the file (without flushing). Idempotent. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
