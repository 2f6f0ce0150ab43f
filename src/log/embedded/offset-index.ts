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
 * The index holds no file descriptor: `open` reads the file and closes it, and writes (a group of
 * entries, `flush`, `truncateFrom`) open, write and close it, so a partition with many segments
 * holds no index descriptors at all and the log files alone count against the descriptor budget
 * (`file-pool.ts`). Writes are rare: one per {@link INDEX_WRITE_GROUP} entries (about 256 KiB of
 * log) and at a flush that follows new entries.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

const ENTRY_SIZE = 8;
export const INDEX_WRITE_GROUP = 64;

export class OffsetIndex {
  private entries = new Uint32Array(128);
  private n = 0;
  private written = 0;

  private constructor(
    readonly path: string,
    private readonly writable: boolean,
  ) {}

  /** A new, empty index file (truncated if it exists). */
  static create(path: string): OffsetIndex {
    closeSync(openSync(path, 'w'));
    return new OffsetIndex(path, true);
  }

  /** Opens (creating if missing, when writable) and loads the valid prefix of entries below `logSize`. */
  static open(path: string, writable: boolean, logSize: number): OffsetIndex {
    let fd: number;
    try {
      fd = openSync(path, writable ? constants.O_RDWR | constants.O_CREAT : constants.O_RDONLY);
    } catch (err) {
      if (writable || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return new OffsetIndex(path, writable);
    }
    const index = new OffsetIndex(path, writable);
    try {
      index.load(fd, logSize);
    } finally {
      closeSync(fd);
    }
    return index;
  }

  private load(fd: number, logSize: number): void {
    const total = Math.floor(fstatSync(fd).size / ENTRY_SIZE);
    const buf = Buffer.alloc(total * ENTRY_SIZE);
    let done = 0;
    while (done < buf.length) {
      const r = readSync(fd, buf, done, buf.length - done, done);
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
    if (this.n < total && this.writable) ftruncateSync(fd, this.n * ENTRY_SIZE);
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

  /** The last entry whose relative offset is <= `rel`, or `{ rel: 0, position: 0 }`. */
  floor(rel: number): { rel: number; position: number } {
    let lo = 0;
    let hi = this.n - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid * 2] <= rel) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0
      ? { rel: 0, position: 0 }
      : { rel: this.entries[found * 2], position: this.entries[found * 2 + 1] };
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
      if (this.writable) this.withFile((fd) => ftruncateSync(fd, this.n * ENTRY_SIZE));
    }
  }

  /** Runs `fn` with the file open for writing (created if missing), then closes it. */
  private withFile(fn: (fd: number) => void): void {
    const fd = openSync(this.path, constants.O_RDWR | constants.O_CREAT);
    try {
      fn(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the entries not yet in the file (no fsync: the index is rebuilt if lost). */
  flush(): void {
    if (this.written === this.n || !this.writable) return;
    // Uint32Array is host-endian: little-endian on every platform Node supports for this.
    const bytes = Buffer.from(
      this.entries.buffer,
      this.written * ENTRY_SIZE,
      (this.n - this.written) * ENTRY_SIZE,
    );
    const at = this.written * ENTRY_SIZE;
    this.withFile((fd) => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
    });
    this.written = this.n;
  }
}
