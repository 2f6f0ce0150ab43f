/**
 * The memory engine's snapshot file: every record of a stable view and the engine's metadata (the
 * store's changelog marker) as of one instant, so that a restart loads it instead of replaying the
 * whole changelog.
 *
 * Layout, little-endian:
 *   header (32 bytes): magic "EDDYSNAP" | version u32 = 1 | flags u32 (bit 0: records in key order)
 *                      | records u32 | meta length u32 | body length u64
 *   meta bytes, then the body: records `[u32, unused][key length u32][value length u32][key][value]`
 *   (the memory engine's own record layout, so a load copies blocks of records as they are)
 *   trailer (12 bytes): CRC-32C u32 of meta, body and header (in that order) | magic "SNAPEND!"
 *
 * Writing (`writeSnapshotFile`) is atomic and off the hot path: the records are copied from the
 * view into a 4 MiB buffer, one buffer per slice, each slice followed by an asynchronous write that
 * lets the event loop run; the file is written to `<path>.tmp`, fsync'd, renamed over `<path>`, and
 * the directory fsync'd. `stillWanted()` is asked right before the rename (synchronously with it),
 * so a snapshot the engine no longer wants (it was cleared meanwhile) never lands.
 *
 * Reading (`readSnapshotFile`) streams the file in 8 MiB slices into a loader while it checks the
 * checksum, so it never holds the whole file in memory; any mismatch — size, magic, version,
 * lengths, checksum — throws `SnapshotFileError` and the caller drops what it loaded.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32c } from '../../util/crc32c.js';
import { EngineError } from '../../util/errors.js';
import type { MemoryView } from './memory-engine.js';

const MAGIC = Buffer.from('EDDYSNAP');
const END = Buffer.from('SNAPEND!');
const VERSION = 1;
const HEADER = 32;
const TRAILER = 12;
const SLICE = 4 << 20;
const READ_SLICE = 8 << 20;

/** A snapshot file that cannot be used (damaged, truncated, another version). */
export class SnapshotFileError extends EngineError {}

export interface SnapshotWriteStats {
  readonly records: number;
  readonly bytes: number;
  readonly ms: number;
  /** The longest synchronous slice (copying records into the buffer): the stall it caused. */
  readonly maxSliceMs: number;
}

/**
 * Writes every record of `view` and `meta` to `path` atomically; closes the view. Resolves with
 * undefined, writing nothing, when `stillWanted()` is false at the end, or when `publishable`
 * (awaited once the temp file is on disk, before the rename) resolves false.
 */
export async function writeSnapshotFile(
  path: string,
  view: MemoryView,
  meta: Uint8Array | undefined,
  stillWanted: () => boolean,
  publishable?: Promise<boolean>,
): Promise<SnapshotWriteStats | undefined> {
  const started = performance.now();
  const tmp = `${path}.tmp`;
  let maxSliceMs = 0;
  let sliceStart = performance.now();
  const metaBytes = meta === undefined ? Buffer.alloc(0) : Buffer.from(meta);
  const buffer = Buffer.allocUnsafe(Math.max(SLICE, view.largestRecord()));
  const file = await open(tmp, 'w');
  let renamed = false;
  try {
    let crc = crc32c(metaBytes);
    let pos = HEADER;
    await file.write(metaBytes, 0, metaBytes.length, pos);
    pos += metaBytes.length;
    let body = 0;
    sliceStart = performance.now();
    while (!view.exhausted) {
      const n = view.fill(buffer, 0);
      crc = crc32c(buffer.subarray(0, n), crc);
      maxSliceMs = Math.max(maxSliceMs, performance.now() - sliceStart);
      await file.write(buffer, 0, n, pos);
      sliceStart = performance.now();
      pos += n;
      body += n;
    }
    const header = Buffer.alloc(HEADER);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(VERSION, 8);
    header.writeUInt32LE(view.sorted ? 1 : 0, 12);
    header.writeUInt32LE(view.count, 16);
    header.writeUInt32LE(metaBytes.length, 20);
    header.writeBigUInt64LE(BigInt(body), 24);
    crc = crc32c(header, crc);
    const trailer = Buffer.alloc(TRAILER);
    trailer.writeUInt32LE(crc, 0);
    END.copy(trailer, 4);
    await file.write(trailer, 0, TRAILER, pos);
    await file.write(header, 0, HEADER, 0);
    view.close(); // every record is copied out: writes may go in place again
    await file.sync();
    await file.close();
    if (publishable !== undefined && !(await publishable)) return undefined;
    if (!stillWanted()) return undefined;
    renameSync(tmp, path);
    renamed = true;
    syncDir(dirname(path));
    return {
      records: view.count,
      bytes: pos + TRAILER,
      ms: performance.now() - started,
      maxSliceMs,
    };
  } finally {
    view.close();
    await file.close().catch(() => undefined);
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** What `readSnapshotFile` found in the header. */
export interface SnapshotHeader {
  readonly records: number;
  readonly sorted: boolean;
  readonly meta: Uint8Array | undefined;
}

/** Receives the records of a snapshot file, slice by slice. */
export interface SnapshotLoader {
  prepare(header: SnapshotHeader): void;
  /** Loads the complete records of `src[start, end)`; returns where the first incomplete one starts. */
  records(src: Buffer, start: number, end: number): number;
}

/**
 * Streams the snapshot at `path` into `loader`, checking it as it goes; throws `SnapshotFileError`
 * when the file is damaged (after the loader saw some records: the caller drops them). Returns
 * the header and the bytes read.
 */
export function readSnapshotFile(path: string, loader: SnapshotLoader): SnapshotHeader & { bytes: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const bad = (why: string) => new SnapshotFileError(`snapshot file ${path} is unusable: ${why}`);
    if (size < HEADER + TRAILER) throw bad(`${size} bytes, shorter than a header and trailer`);
    const header = Buffer.alloc(HEADER);
    readSync(fd, header, 0, HEADER, 0);
    if (!header.subarray(0, 8).equals(MAGIC)) throw bad('not a snapshot file (magic)');
    if (header.readUInt32LE(8) !== VERSION)
      throw bad(`version ${header.readUInt32LE(8)}, expected ${VERSION}`);
    const sorted = (header.readUInt32LE(12) & 1) === 1;
    const records = header.readUInt32LE(16);
    const metaLength = header.readUInt32LE(20);
    const body = Number(header.readBigUInt64LE(24));
    if (HEADER + metaLength + body + TRAILER !== size) {
      throw bad(`lengths (meta ${metaLength}, body ${body}) do not add up to its ${size} bytes`);
    }
    const meta = Buffer.alloc(metaLength);
    readSync(fd, meta, 0, metaLength, HEADER);
    let crc = crc32c(meta);
    const head: SnapshotHeader = { records, sorted, meta: metaLength === 0 ? undefined : meta };
    loader.prepare(head);
    let buffer = Buffer.allocUnsafe(Math.min(READ_SLICE, Math.max(body, 1)));
    let filled = 0;
    let read = 0;
    while (read < body) {
      if (filled === buffer.length) {
        // one record larger than the buffer: grow it
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, filled);
        buffer = bigger;
      }
      const want = Math.min(buffer.length - filled, body - read);
      const n = readSync(fd, buffer, filled, want, HEADER + metaLength + read);
      if (n <= 0) throw bad(`ended at body byte ${read} of ${body}`);
      crc = crc32c(buffer.subarray(filled, filled + n), crc);
      read += n;
      filled += n;
      const used = loader.records(buffer, 0, filled);
      buffer.copy(buffer, 0, used, filled);
      filled -= used;
    }
    if (filled !== 0) throw bad(`its last record is cut (${filled} bytes left over)`);
    const trailer = Buffer.alloc(TRAILER);
    readSync(fd, trailer, 0, TRAILER, size - TRAILER);
    crc = crc32c(header, crc);
    if (!trailer.subarray(4).equals(END)) throw bad('no end marker');
    if (trailer.readUInt32LE(0) !== crc) throw bad('checksum mismatch');
    return { ...head, bytes: size };
  } finally {
    closeSync(fd);
  }
}
