/**
 * `SpanBuilder` collects decoded records as `RecordSpans` blocks (see `types.ts`): offsets and the
 * positions of keys and values in the buffer they were decoded from, in typed arrays, with no
 * object per record. A new block starts whenever the records come from another buffer (another
 * fetch, or the inflated body of a compressed batch); the arrays grow by doubling, sized up front
 * from what the caller announces (`open(buf, expected)`).
 */
import type { RecordSpans } from './types.js';

class Block implements RecordSpans {
  count = 0;
  offsets: Float64Array;
  keyStart: Int32Array;
  keyLength: Int32Array;
  valueStart: Int32Array;
  valueLength: Int32Array;

  constructor(
    readonly buf: Buffer,
    capacity: number,
  ) {
    this.offsets = new Float64Array(capacity);
    this.keyStart = new Int32Array(capacity);
    this.keyLength = new Int32Array(capacity);
    this.valueStart = new Int32Array(capacity);
    this.valueLength = new Int32Array(capacity);
  }

  grow(capacity: number): void {
    const n = this.count;
    this.offsets = copyInto(new Float64Array(capacity), this.offsets, n);
    this.keyStart = copyInto(new Int32Array(capacity), this.keyStart, n);
    this.keyLength = copyInto(new Int32Array(capacity), this.keyLength, n);
    this.valueStart = copyInto(new Int32Array(capacity), this.valueStart, n);
    this.valueLength = copyInto(new Int32Array(capacity), this.valueLength, n);
  }
}

function copyInto<T extends Float64Array | Int32Array>(to: T, from: T, n: number): T {
  to.set(from.subarray(0, n) as never);
  return to;
}

export class SpanBuilder {
  /** Every block so far, the current one last. */
  readonly blocks: RecordSpans[] = [];
  private cur: Block | undefined;
  /** Records pushed, over every block. */
  count = 0;

  /**
   * Makes the current block one of `buf`'s with room for `expected` more records (a new block
   * when the current one is another buffer's).
   */
  open(buf: Buffer, expected: number): void {
    let b = this.cur;
    if (b === undefined || b.buf !== buf) {
      b = new Block(buf, Math.max(16, expected));
      this.cur = b;
      this.blocks.push(b);
      return;
    }
    if (b.count + expected > b.offsets.length) b.grow(Math.max(b.count + expected, 2 * b.offsets.length));
  }

  /** Adds a record of the current block (`open` made room for it). Lengths -1 mean null. */
  push(offset: number, keyStart: number, keyLength: number, valueStart: number, valueLength: number): void {
    const b = this.cur as Block;
    let i = b.count;
    if (i >= b.offsets.length) b.grow(2 * b.offsets.length);
    b.offsets[i] = offset;
    b.keyStart[i] = keyStart;
    b.keyLength[i] = keyLength;
    b.valueStart[i] = valueStart;
    b.valueLength[i] = valueLength;
    b.count = ++i;
    this.count++;
  }

  /** The blocks that hold records (a block opened and left empty is dropped). */
  finish(): RecordSpans[] {
    return this.blocks.filter((b) => b.count > 0);
  }
}
