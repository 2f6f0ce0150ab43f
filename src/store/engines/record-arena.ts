/**
 * The memory engine's record arena: every key and value lives in a few large `Buffer` chunks, never
 * in a JS object per entry. A record is `[entry id u32][key length u32][value length u32][key][value]`
 * (little-endian), addressed by a 32-bit ref: chunk number in the high 8 bits, byte offset in the
 * low 24 (chunks hold at most 16 MiB; a record larger than that gets a chunk of its own at offset 0).
 *
 * - Records are appended to the current chunk; a full chunk is left behind (its unused tail counts
 *   as dead space) and a new one opened, sized an eighth of the live bytes (64 KiB to 16 MiB), so
 *   a small store stays small and a large one never copies what it holds to grow.
 * - `markDead(ref)` accounts a record that is no longer current (overwritten or deleted). A chunk
 *   whose records are all dead is dropped at once; otherwise `compactionCandidate()` names the chunk
 *   most worth moving once dead space passes a quarter of the arena, and the engine moves its live
 *   records (it alone knows which are live) and calls `drop`.
 * - Chunks are never reused or written over after they are dropped: a cursor that holds the chunk
 *   list as it was keeps reading its records intact (the engine's stable snapshots rely on this).
 * - 255 chunks (a few GiB) at most; beyond that `append` throws `EngineError`.
 */
import { EngineError } from '../../util/errors.js';

/** The ref no record ever has: marks a deleted or free entry. */
export const NO_REF = 0xffffffff;
/** Bytes of a record header. */
export const HEADER = 12;
const OFFSET_MASK = 0xffffff;
const CHUNK_UNIT = 0x1000000;
const MAX_CHUNK = 1 << 24;
const MAX_CHUNKS = 255;
const FIRST_CHUNK = 64 << 10;
/** Dead bytes below this never trigger compaction (small stores do not churn). */
const MIN_DEAD = 256 << 10;

/** Reads a little-endian u32 at `at`. */
export function readU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = v >>> 24;
}

/** Chunk number of a ref. */
export function chunkOf(ref: number): number {
  return ref >>> 24;
}

/** Byte offset of a ref in its chunk. */
export function offsetOf(ref: number): number {
  return ref & OFFSET_MASK;
}

/** Copies `n` bytes; a plain loop for short runs (no native call), `set` otherwise. */
function copyBytes(src: Uint8Array, from: number, dst: Uint8Array, to: number, n: number): void {
  if (n <= 32) {
    for (let i = 0; i < n; i++) dst[to + i] = src[from + i];
  } else if (from === 0 && n === src.length) {
    dst.set(src, to);
  } else {
    dst.set(src.subarray(from, from + n), to);
  }
}

export class RecordArena {
  /** The chunks by number; a dropped chunk is `undefined`. Read by cursors as a copy. */
  chunks: (Buffer | undefined)[] = [];
  /** Bytes of current records. */
  liveBytes = 0;
  /** Bytes of dead records and of the unused tails of chunks left behind. */
  deadBytes = 0;
  private readonly dead: number[] = [];
  /** Where the records of each chunk end. */
  private readonly ends: number[] = [];
  private readonly free: number[] = [];
  private cur = -1;
  private curPos = 0;
  private curSize = 0;
  private nextSize: number;

  constructor(
    private readonly name: string,
    /** Bytes expected (pre-sizing): the first chunk is sized for them, up to 16 MiB. */
    expectedBytes = 0,
  ) {
    let size = FIRST_CHUNK;
    while (size < expectedBytes && size < MAX_CHUNK) size *= 2;
    this.nextSize = size;
  }

  /** Bytes held by chunks. */
  get allocatedBytes(): number {
    let total = 0;
    for (const c of this.chunks) if (c !== undefined) total += c.length;
    return total;
  }

  /** Appends a record and returns its ref. */
  append(id: number, key: Uint8Array, value: Uint8Array): number {
    const kl = key.length;
    const vl = value.length;
    const ref = this.reserve(HEADER + kl + vl);
    const b = this.chunks[ref >>> 24] as Buffer;
    const at = ref & OFFSET_MASK;
    writeU32(b, at, id);
    writeU32(b, at + 4, kl);
    writeU32(b, at + 8, vl);
    copyBytes(key, 0, b, at + HEADER, kl);
    copyBytes(value, 0, b, at + HEADER + kl, vl);
    return ref;
  }

  /** Appends a record whose key and value are read from `src` (a snapshot file, another chunk). */
  appendFrom(id: number, src: Buffer, keyAt: number, kl: number, valueAt: number, vl: number): number {
    const ref = this.reserve(HEADER + kl + vl);
    const b = this.chunks[ref >>> 24] as Buffer;
    const at = ref & OFFSET_MASK;
    writeU32(b, at, id);
    writeU32(b, at + 4, kl);
    writeU32(b, at + 8, vl);
    if (valueAt === keyAt + kl) src.copy(b, at + HEADER, keyAt, valueAt + vl);
    else {
      src.copy(b, at + HEADER, keyAt, keyAt + kl);
      src.copy(b, at + HEADER + kl, valueAt, valueAt + vl);
    }
    return ref;
  }

  /** Appends a record whose key is `src[keyAt, keyAt + kl)` and value `src[valueAt, valueAt + vl)`. */
  appendAt(id: number, src: Uint8Array, keyAt: number, kl: number, valueAt: number, vl: number): number {
    const ref = this.reserve(HEADER + kl + vl);
    const b = this.chunks[ref >>> 24] as Buffer;
    const at = ref & OFFSET_MASK;
    writeU32(b, at, id);
    writeU32(b, at + 4, kl);
    writeU32(b, at + 8, vl);
    copyBytes(src, keyAt, b, at + HEADER, kl);
    copyBytes(src, valueAt, b, at + HEADER + kl, vl);
    return ref;
  }

  /**
   * Appends `src[start, end)`, whole records in this arena's layout (a snapshot's), in one copy;
   * returns the ref of its first byte. The caller sets each record's id. At most 16 MiB, unless
   * it is one record.
   */
  appendBlock(src: Buffer, start: number, end: number): number {
    const ref = this.reserve(end - start);
    src.copy(this.chunks[ref >>> 24] as Buffer, ref & OFFSET_MASK, start, end);
    return ref;
  }

  /** Overwrites the value of the record at `ref` in place (same length). */
  overwriteValue(ref: number, value: Uint8Array): void {
    const b = this.chunks[ref >>> 24] as Buffer;
    const at = ref & OFFSET_MASK;
    copyBytes(value, 0, b, at + HEADER + readU32(b, at + 4), value.length);
  }

  /** Overwrites the value of the record at `ref` in place with `src[at, at + vl)` (same length). */
  overwriteValueAt(ref: number, src: Uint8Array, at: number, vl: number): void {
    const b = this.chunks[ref >>> 24] as Buffer;
    const pos = ref & OFFSET_MASK;
    copyBytes(src, at, b, pos + HEADER + readU32(b, pos + 4), vl);
  }

  /** Accounts the record at `ref` as dead; drops its chunk when nothing in it is live any more. */
  markDead(ref: number): void {
    const c = ref >>> 24;
    const b = this.chunks[c] as Buffer;
    const at = ref & OFFSET_MASK;
    const size = HEADER + readU32(b, at + 4) + readU32(b, at + 8);
    this.dead[c] += size;
    this.deadBytes += size;
    this.liveBytes -= size;
    if (c !== this.cur && this.dead[c] >= b.length) this.drop(c);
  }

  /**
   * The chunk whose live records are most worth moving (the one with most dead bytes, never the
   * current one), once dead space passes a quarter of the arena; -1 when compaction does not pay.
   */
  compactionCandidate(): number {
    if (this.deadBytes < MIN_DEAD || this.deadBytes * 3 < this.liveBytes) return -1;
    let best = -1;
    let most = 0;
    for (let c = 0; c < this.chunks.length; c++) {
      if (c === this.cur || this.chunks[c] === undefined) continue;
      if (this.dead[c] > most) {
        most = this.dead[c];
        best = c;
      }
    }
    return best;
  }

  /** Forgets chunk `c` (its live records were moved); cursors holding it keep reading it. */
  drop(c: number): void {
    const b = this.chunks[c];
    if (b === undefined) return;
    const live = b.length - this.dead[c];
    this.deadBytes -= this.dead[c];
    this.liveBytes -= live;
    this.chunks[c] = undefined;
    this.dead[c] = 0;
    this.free.push(c);
  }

  /** Where records of chunk `c` end (the current chunk is filled up to its write position). */
  usedOf(c: number): number {
    return c === this.cur ? this.curPos : this.ends[c];
  }

  private reserve(size: number): number {
    if (size > MAX_CHUNK) {
      // a record too large for a chunk: a chunk of its own, left behind at once
      const c = this.newChunk(size);
      this.ends[c] = size;
      this.liveBytes += size;
      return c * CHUNK_UNIT;
    }
    if (this.cur < 0 || this.curPos + size > this.curSize) {
      if (this.cur >= 0) {
        const slack = this.curSize - this.curPos;
        const left = this.cur;
        this.ends[left] = this.curPos;
        this.dead[left] += slack;
        this.deadBytes += slack;
        this.cur = -1;
        if (this.dead[left] >= this.curSize) this.drop(left);
      }
      // chunks grow with what the arena holds (an eighth of it), so a store that churns few keys
      // keeps small chunks that compaction can drop, and a large one needs few chunks
      while (this.nextSize < MAX_CHUNK && this.nextSize * 8 < this.liveBytes) this.nextSize *= 2;
      let chunkSize = this.nextSize;
      while (chunkSize < size) chunkSize *= 2;
      const c = this.newChunk(chunkSize);
      this.cur = c;
      this.curPos = 0;
      this.curSize = (this.chunks[c] as Buffer).length;
    }
    const ref = this.cur * CHUNK_UNIT + this.curPos;
    this.curPos += size;
    this.liveBytes += size;
    return ref;
  }

  private newChunk(size: number): number {
    const c = this.free.length > 0 ? (this.free.pop() as number) : this.chunks.length;
    if (c >= MAX_CHUNKS) {
      throw new EngineError(
        `memory engine "${this.name}" is full: its ${MAX_CHUNKS} chunks of up to 16 MiB hold ${this.liveBytes} bytes of records; use the lmdb or rocksdb engine for state this large`,
      );
    }
    this.chunks[c] = Buffer.allocUnsafeSlow(size);
    this.dead[c] = 0;
    return c;
  }
}
