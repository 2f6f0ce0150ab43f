/**
 * The memory engine with local snapshot files: host affinity for in-memory state. A decorator
 * around a plain `MemoryEngine` (which stays plain), opened by the engine registry when a memory
 * store has a directory and a changelog.
 *
 * - On open it loads `<dir>/memory.snapshot` if there is one: the records and the metadata as of
 *   one instant. The metadata is the store's changelog marker, so the store's restore sees "clean
 *   at offset N" and replays only the changelog after N (or reuses the state as is, or rebuilds it
 *   when the marker was not clean, exactly as for LMDB). A damaged file (checksum, lengths, magic)
 *   is renamed to `memory.snapshot.corrupt` and ignored: the engine opens empty, the store has no
 *   marker, and restore rebuilds it from the changelog.
 * - At a commit point (`commitPoint`, called by the store right after it recorded a clean marker)
 *   it starts a snapshot when `intervalMs` passed since the last one started, none is running and
 *   something changed: it takes a stable view of every record plus the metadata in the same
 *   synchronous step, so the pair is consistent, and writes them in the background
 *   (`writeSnapshotFile`: 4 MiB slices between asynchronous writes, temp file, fsync, rename).
 *   When the runtime's commit goes on after the marker (the checkpoint, an exactly-once
 *   transaction), the rename waits until that commit is durable, and a commit that failed drops
 *   the file: a published snapshot never names a changelog offset past every checkpoint (exactly-
 *   once, a kill between the marker and the transaction's commit made the next start rebuild the
 *   store from the whole changelog).
 * - `close()` waits for a running snapshot and writes a last one when anything changed since, so a
 *   clean close and reopen loses nothing (the conformance suite runs it as a persistent engine) —
 *   unless the last commit point's commit failed.
 * - `clear()` (a store wipe) removes the file, and a snapshot running meanwhile never lands.
 *
 * A crash loses what came after the last snapshot — never correctness: the file always pairs its
 * records with the marker they had, and the changelog holds everything after it. `flush()` does not
 * make writes durable here; the changelog does.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { StoreClosedError } from '../../util/errors.js';
import type { EngineCursor, EngineSupports, SpanBatch, StorageEngine, WriteOp } from '../types.js';
import { MemoryEngine } from './memory-engine.js';
import {
  readSnapshotFile,
  SnapshotFileError,
  type SnapshotWriteStats,
  writeSnapshotFile,
} from './snapshot-file.js';

export interface SnapshottedMemoryEngineOptions {
  readonly dir: string;
  readonly name: string;
  /** The least time between the starts of two snapshots (0: at every commit point). */
  readonly intervalMs: number;
  readonly expectedKeys?: number;
}

/** How the engine opened. */
export type SnapshotLoad =
  | { readonly loaded: false; readonly rejected?: string }
  | { readonly loaded: true; readonly records: number; readonly bytes: number; readonly ms: number };

export const SNAPSHOT_FILE = 'memory.snapshot';

export class SnapshottedMemoryEngine implements StorageEngine {
  readonly kind = 'memory';
  readonly supports: EngineSupports = { persistent: true };
  /** How the engine opened: from a snapshot, empty, or empty because the snapshot was damaged. */
  readonly opened: SnapshotLoad;
  /** The last snapshot written, its stall included. */
  lastSnapshot: SnapshotWriteStats | undefined;
  /** The last snapshot that failed (the store goes on; the next commit point tries again). */
  lastError: unknown;
  private readonly path: string;
  private running: Promise<void> | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private changed = false;
  /** The `durable` of the last commit point (see `StorageEngine.commitPoint`). */
  private lastPoint: Promise<boolean> | undefined;
  /** Bumped by `clear()`: a snapshot begun before it must not land. */
  private epoch = 0;
  private closed = false;

  private constructor(
    readonly inner: MemoryEngine,
    private readonly options: SnapshottedMemoryEngineOptions,
  ) {
    this.path = join(options.dir, SNAPSHOT_FILE);
    this.opened = this.load();
  }

  static open(options: SnapshottedMemoryEngineOptions): SnapshottedMemoryEngine {
    mkdirSync(options.dir, { recursive: true });
    const inner = new MemoryEngine(options.name, { expectedKeys: options.expectedKeys });
    return new SnapshottedMemoryEngine(inner, options);
  }

  get name(): string {
    return this.options.name;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(key);
  }

  has(key: Uint8Array): boolean {
    return this.inner.has(key);
  }

  keyCount(): number {
    return this.inner.keyCount();
  }

  put(key: Uint8Array, value: Uint8Array, meta?: Uint8Array): void {
    this.inner.put(key, value, meta);
    this.changed = true;
  }

  delete(key: Uint8Array, meta?: Uint8Array): void {
    this.inner.delete(key, meta);
    this.changed = true;
  }

  write(ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array): void {
    this.inner.write(ops, meta);
    if (ops.length > 0 || meta !== undefined) this.changed = true;
  }

  writeSpans(batches: readonly SpanBatch[], meta?: Uint8Array): void {
    this.inner.writeSpans(batches, meta);
    this.changed = true;
  }

  range(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor {
    return this.inner.range(from, to);
  }

  snapshot(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor {
    return this.inner.snapshot(from, to);
  }

  readMeta(): Uint8Array | undefined {
    return this.inner.readMeta();
  }

  clear(): void {
    this.inner.clear();
    this.epoch++;
    this.changed = false;
    rmSync(this.path, { force: true });
  }

  commitPoint(durable?: Promise<boolean>): void {
    this.lastPoint = durable;
    if (this.closed || this.running !== undefined || !this.changed) return;
    if (performance.now() - this.lastStart < this.options.intervalMs) return;
    this.start(durable);
  }

  /** Writes a snapshot of the state as it is now (after any running one); resolves when on disk. */
  async snapshotNow(): Promise<SnapshotWriteStats | undefined> {
    if (this.closed) throw new StoreClosedError(this.name);
    while (this.running !== undefined) await this.running;
    return this.start();
  }

  private start(durable?: Promise<boolean>): Promise<SnapshotWriteStats | undefined> {
    this.lastStart = performance.now();
    const epoch = this.epoch;
    // the view and the metadata in one synchronous step: the file pairs records with their marker
    const view = this.inner.exportView();
    const meta = this.inner.readMeta();
    this.changed = false;
    const done = writeSnapshotFile(this.path, view, meta, () => this.epoch === epoch, durable).then(
      (stats) => {
        if (stats !== undefined) this.lastSnapshot = stats;
        // not published (its commit failed, or a wipe came first): the state is not on disk
        else if (durable !== undefined && this.epoch === epoch) this.changed = true;
        return stats;
      },
      (err: unknown) => {
        this.lastError = err;
        this.changed = true;
        return undefined;
      },
    );
    const running = done.then(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    return done;
  }

  async flush(): Promise<void> {
    await this.inner.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      while (this.running !== undefined) await this.running;
      // not after a failed commit: its marker may be ahead of every checkpoint (the file on disk,
      // from an earlier commit, stays the one a restart loads)
      const failed = this.lastPoint !== undefined && !(await this.lastPoint);
      if (this.changed && !failed) await this.start();
    } finally {
      this.closed = true;
      await this.inner.close();
    }
  }

  private load(): SnapshotLoad {
    if (!existsSync(this.path)) return { loaded: false };
    const started = performance.now();
    const inner = this.inner;
    let sorted = false;
    let meta: Uint8Array | undefined;
    try {
      const read = readSnapshotFile(this.path, {
        prepare: (header) => {
          sorted = header.sorted;
          meta = header.meta;
          inner.prepareLoad(header.records, header.sorted);
        },
        records: (src, start, end) => inner.loadRecords(src, start, end, sorted),
      });
      if (inner.size !== read.records) {
        throw new SnapshotFileError(
          `snapshot file ${this.path} is unusable: it says ${read.records} records and holds ${inner.size}`,
        );
      }
      if (meta !== undefined) inner.write([], meta);
      return { loaded: true, records: read.records, bytes: read.bytes, ms: performance.now() - started };
    } catch (err) {
      if (!(err instanceof SnapshotFileError)) throw err;
      // damaged: set it aside, open empty (no marker), and let restore rebuild from the changelog
      inner.clear();
      renameSync(this.path, `${this.path}.corrupt`);
      return { loaded: false, rejected: err.message };
    }
  }
}
