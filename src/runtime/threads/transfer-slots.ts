/**
 * `TransferSlots`: fixed slots of one `SharedArrayBuffer` that a task thread lends the log owner
 * for the bytes of its reads and appends (thread-log.ts, log-owner.ts), so that neither side
 * allocates a buffer per call.
 *
 * Why not only transferred `ArrayBuffer`s: each read's buffer was allocated in the owner and each
 * append's arrived there, half a megabyte at a time. V8 counts such a buffer as the owner's external
 * memory until a garbage collection sweeps it, and the owner runs little JavaScript, so its young
 * generation rarely fills: the external memory grew until V8 ran full collections for it, one every
 * ~200 ms, most of whose marking ran on the helper threads every isolate of the process shares. In
 * scenario 3 on 2 threads those helpers used 0.48 cores (0.16 with one event loop), taken from the
 * task threads. With slots the owner reads into and writes from shared memory it never allocates;
 * the thread copies a read out into a buffer of its own (its records are views of it, which user
 * code may keep) and copies an append in, keeping its `RecordBuffer`'s capacity.
 *
 * Lending: only the thread takes and releases slots (`take`, `release`); a slot is the owner's from
 * the request that names it until its answer arrives. The side that wrote a slot `publish`es its
 * length and the other `acquire`s it (Atomics on the slot's word), which orders the bytes between
 * the threads. A call whose bytes do not fit a slot, or that finds every slot lent, transfers a
 * buffer as before.
 */

/** Bytes of one slot by default: a read's default budget (1 MiB), and a flush of 1,000s of records. */
export const SLOT_BYTES = 1024 * 1024;

/** Slots as they cross to another thread. */
export interface SharedSlots {
  readonly memory: SharedArrayBuffer;
  readonly count: number;
  readonly slotBytes: number;
}

export class TransferSlots {
  private readonly words: Int32Array;
  private readonly free: number[];

  private constructor(
    /** The shared memory: a word per slot, then the slots. */
    readonly memory: SharedArrayBuffer,
    readonly count: number,
    readonly slotBytes: number,
  ) {
    this.words = new Int32Array(memory, 0, count);
    this.free = Array.from({ length: count }, (_, i) => count - 1 - i);
  }

  /** New slots: `count` of `slotBytes` each. */
  static allocate(count: number, slotBytes = SLOT_BYTES): TransferSlots {
    return new TransferSlots(new SharedArrayBuffer(count * 4 + count * slotBytes), count, slotBytes);
  }

  /** What the other thread needs to see these slots (`of`): it crosses threads in `workerData`. */
  get shared(): SharedSlots {
    return { memory: this.memory, count: this.count, slotBytes: this.slotBytes };
  }

  /** The other side's view of slots `allocate` made. */
  static of(s: SharedSlots): TransferSlots {
    return new TransferSlots(s.memory, s.count, s.slotBytes);
  }

  /** A free slot, now lent, or -1 when every slot is lent (the thread's side). */
  take(): number {
    return this.free.pop() ?? -1;
  }

  /** Gives slot `i` back once its answer arrived (the thread's side). */
  release(i: number): void {
    this.free.push(i);
  }

  /** Slot `i`'s bytes (the first `length` of them; all by default). */
  bytes(i: number, length = this.slotBytes): Buffer {
    return Buffer.from(this.memory, this.count * 4 + i * this.slotBytes, length);
  }

  /** The writer of slot `i` is done with `length` bytes: they are visible to whoever `acquire`s it. */
  publish(i: number, length: number): void {
    Atomics.store(this.words, i, length);
  }

  /** The length slot `i`'s writer published, its bytes visible from now on. */
  acquire(i: number): number {
    return Atomics.load(this.words, i);
  }
}
