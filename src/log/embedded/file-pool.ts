/**
 * File descriptors as a bounded resource: the segment files of the embedded log are opened on
 * demand and the least recently used ones closed, so a data directory with 10,000 partitions needs
 * at most {@link FilePool.maxOpen} descriptors, not one per segment (the default soft limit of
 * `ulimit -n` is often 1024).
 *
 * A {@link PooledFile} stands for one file by path. `get()` returns its descriptor, reopening it when
 * the pool closed it; the returned descriptor is valid until the next call that may open another
 * file of the pool (synchronous code between two such calls is safe). Code that keeps a descriptor
 * across an `await` (an `fdatasync`) pins it first; the pool never closes a pinned file (it may then
 * hold more than `maxOpen` for a moment).
 *
 * The hot path costs one comparison when the file is the most recently used one (a job appending to
 * one partition), and an O(1) move in the LRU order otherwise; open and close happen only when more
 * files are in use than `maxOpen`.
 *
 * A reopened file must be the one first opened (same inode): a file that was replaced on disk (a
 * segment swap by the writer, seen by a read-only follower) throws a {@link StaleFileError}; the
 * follower then reopens the partition.
 *
 * Descriptors that run out anyway (`EMFILE`/`ENFILE`: other code holds many) make the pool close
 * every unpinned file it holds and try once more, before giving up with an error saying what to do.
 */
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { InvalidArgumentError, LogClosedError, ResourceLimitError } from '../../util/errors.js';

/** The default cap: far below the common soft limit of 1024 descriptors, leaving room for the rest. */
export const DEFAULT_MAX_OPEN_FILES = 256;

/** A pooled file was replaced on disk since it was first opened (code `ESTALE`). */
export class StaleFileError extends Error {
  readonly code = 'ESTALE';
  constructor(readonly path: string) {
    super(`${path} was replaced on disk since it was opened`);
  }
}

/** One file of a {@link FilePool}, by path; see the file header. */
export class PooledFile {
  /** The open descriptor, or -1 while closed. */
  fd = -1;
  /** The inode first opened (-1 before). */
  ino = -1;
  pins = 0;
  /** Closed for good (`close()`): a later `get()` is a bug. */
  closed = false;

  constructor(
    readonly pool: FilePool,
    readonly path: string,
    readonly writable: boolean,
  ) {}

  /** The descriptor, opened on demand; marks the file most recently used. */
  get(): number {
    if (this.fd >= 0 && this.pool.mru === this) return this.fd;
    return this.pool.use(this);
  }

  /** `get()`, and keeps the descriptor open until `unpin()` (for use across an `await`). */
  pin(): number {
    const fd = this.get();
    this.pins++;
    return fd;
  }

  unpin(): void {
    this.pins--;
    // back under the cap once the pins that let the pool run over it are gone
    if (this.pins === 0 && this.pool.size > this.pool.maxOpen) this.pool.trim();
  }

  /** Closes the descriptor for good. Idempotent. */
  close(): void {
    this.closed = true;
    this.pool.closeFile(this);
  }
}

function isOutOfDescriptors(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EMFILE' || code === 'ENFILE';
}

export class FilePool {
  /** Files with an open descriptor, least recently used first (a Set keeps insertion order). */
  private readonly open = new Set<PooledFile>();
  /** The most recently used file (the fast path of `PooledFile.get`). */
  mru: PooledFile | undefined;
  /** Descriptors opened and closed by the pool since it was made (tests, diagnostics). */
  opens = 0;
  evictions = 0;

  constructor(readonly maxOpen = DEFAULT_MAX_OPEN_FILES) {
    if (!Number.isSafeInteger(maxOpen) || maxOpen < 2) {
      throw new InvalidArgumentError(`maxOpen must be an integer >= 2, got ${maxOpen}`);
    }
  }

  /** Descriptors open now. */
  get size(): number {
    return this.open.size;
  }

  /** A pooled file for `path` (not opened yet). */
  file(path: string, writable: boolean): PooledFile {
    return new PooledFile(this, path, writable);
  }

  /**
   * Creates `path` (it must not exist) and returns it pooled and open. `wx+`: fails with `EEXIST`.
   */
  create(path: string): PooledFile {
    const f = new PooledFile(this, path, true);
    this.makeRoom();
    const fd = this.openOrRetry(() => openSync(path, 'wx+'));
    this.register(f, fd);
    return f;
  }

  /** Opens `f` (it is closed) or moves it to the most recent place; returns its descriptor. */
  use(f: PooledFile): number {
    if (f.fd >= 0) {
      this.open.delete(f);
      this.open.add(f);
      this.mru = f;
      return f.fd;
    }
    if (f.closed) throw new LogClosedError(`segment file ${f.path}`);
    this.makeRoom();
    const flags = f.writable ? constants.O_RDWR : constants.O_RDONLY;
    const fd = this.openOrRetry(() => openSync(f.path, flags));
    this.register(f, fd);
    return fd;
  }

  private register(f: PooledFile, fd: number): void {
    let ino: number;
    try {
      ino = fstatSync(fd).ino;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (f.ino >= 0 && ino !== f.ino) {
      closeSync(fd);
      throw new StaleFileError(f.path);
    }
    f.ino = ino;
    f.fd = fd;
    this.opens++;
    this.open.add(f);
    this.mru = f;
  }

  private openOrRetry(open: () => number): number {
    try {
      return open();
    } catch (err) {
      if (!isOutOfDescriptors(err) || this.evict(Number.POSITIVE_INFINITY) === 0) throw this.wrap(err);
      try {
        return open();
      } catch (again) {
        throw this.wrap(again);
      }
    }
  }

  private wrap(err: unknown): unknown {
    if (!isOutOfDescriptors(err)) return err;
    return new ResourceLimitError(
      `out of file descriptors (${(err as NodeJS.ErrnoException).code}) while the embedded log holds ` +
        `${this.open.size} open: other code holds the rest; raise the limit (ulimit -n) or open fewer files`,
      { cause: err },
    );
  }

  /** Closes least recently used unpinned files while more than `maxOpen` are open. */
  trim(): void {
    if (this.open.size > this.maxOpen) this.evict(this.open.size - this.maxOpen);
  }

  /** Closes least recently used unpinned files until one more fits. */
  private makeRoom(): void {
    if (this.open.size >= this.maxOpen) this.evict(this.open.size - this.maxOpen + 1);
  }

  /** Closes up to `count` unpinned files, least recently used first; returns how many. */
  private evict(count: number): number {
    let n = 0;
    for (const f of this.open) {
      if (n >= count) break;
      if (f.pins > 0) continue;
      this.closeFile(f);
      this.evictions++;
      n++;
    }
    return n;
  }

  /** Closes `f`'s descriptor (it stays usable: `get()` reopens it unless `f.closed`). */
  closeFile(f: PooledFile): void {
    if (f.fd < 0) return;
    const fd = f.fd;
    f.fd = -1;
    this.open.delete(f);
    if (this.mru === f) this.mru = undefined;
    closeSync(fd);
  }
}

/** The pool of this thread's embedded logs, unless a log is given its own. */
export const sharedFilePool = new FilePool();
