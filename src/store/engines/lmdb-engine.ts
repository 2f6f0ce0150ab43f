/**
 * The `lmdb` storage engine: a B+tree in one memory-mapped file (LMDB, through the `lmdb` package),
 * Eddy's default persistent engine.
 *
 * Layout: one LMDB environment per store, the file `<dir>/data.mdb` (plus `data.mdb-lock`), with two
 * named sub-databases: `data` holds the store's keys, `meta` holds the one metadata record
 * (`readMeta`). Both live in the same environment, so `write(ops, meta)` puts the ops and the meta
 * in ONE synchronous write transaction: after any crash either all of it is there or none. The
 * metadata never shows in a range because ranges only read `data`.
 *
 * Durability (chosen on purpose; the changelog is the source of truth, but the local copy must
 * never be corrupt and must never claim more than it holds):
 * - Every `write` commits a classic, synchronous LMDB transaction: `noSync: false`,
 *   `noMetaSync: false`, `overlappingSync: false`. The commit fsyncs before `write` returns, so a
 *   write that returned survives a process kill (SIGKILL) and a power loss, and LMDB's copy-on-write
 *   pages plus its two meta pages keep the file consistent at every instant. The cost is one fsync
 *   per `write` call (about 0.5 ms here), which the store pays once per commit: the write-back cache
 *   hands the engine one batch per flush, not one write per put.
 * - `noSync` (no fsync at all) was rejected: it is safe against SIGKILL but can corrupt the file
 *   on a power loss, and a corrupt local copy that still opens cannot be told from a good one.
 *   `overlappingSync` (fsync after the commit, lmdb-js's own meta-pointer scheme) gave no measurable
 *   gain for synchronous transactions and adds a boot-id based recovery rule; not worth it here.
 * - `flush()` still asks the environment to sync, so it is correct under any future option.
 *
 * Write path: one `transactionSync` whose callback `putSync`s the batch, the fastest way lmdb-js
 * offers to write a batch synchronously; a batch of 256 ops or more is written in key order
 * (`keyOrder`). lmdb-js's asynchronous `put`s (queued, committed as one
 * transaction on its write thread, awaited with `db.committed`) were measured against it by
 * `bench/store` at 1M keys with the same 10k ops per transaction: the same rate within noise (36.0k
 * vs 37.0k puts/s), because both are bound by lmdb's own work, the B+tree inserts and the commit
 * (copy-on-write of every leaf page a batch of random keys touches, then the fsync). The async path
 * cannot serve this engine anyway: `write` must be atomic and durable when it returns, and
 * lmdb-js's reads do not see an async `put` until its transaction has committed.
 *
 * Background writes (`writeInBackground`, what a changelogged store uses to apply its durable
 * points): the same transaction, run by this thread's lmdb writer thread (`lmdb-writer.ts`) on the
 * same environment, so the caller's event loop goes on meanwhile. lmdb-js's own async writes were
 * not used for this: a synchronous transaction made while they are queued can run before them
 * (lmdb-js splits the batch), so an ordered read that must first see them could not wait for them;
 * here every synchronous write, `clear` and `close` first waits for the write in flight (`settle`,
 * a blocking wait on its status word), so writes land in the order they were made.
 *
 * Corner cases:
 * - LMDB refuses empty keys and keys over 1978 bytes; `write` throws `InvalidKeyError` for those
 *   before touching the file. `get` of an empty key returns undefined; an empty `from` bound is
 *   the same as no bound, an empty `to` bound yields nothing.
 * - `get` copies the value out of lmdb-js's shared buffer: returned buffers belong to the caller. Range entries are
 *   fresh buffers too (never `getBinaryFast`'s shared buffer).
 * - A range or snapshot cursor holds an LMDB read transaction (a stable snapshot) until it is run
 *   to the end or closed; an open cursor pins old pages, so cursors must be closed. `range` and
 *   `snapshot` are the same thing here: an LMDB read transaction is always a stable view. Cursors
 *   still open at `close()` are closed by it.
 * - After `close()` (idempotent) every call throws `StoreClosedError`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { asBuffer, compareBytes } from '../../util/bytes.js';
import { EngineError, InvalidKeyError, StoreClosedError } from '../../util/errors.js';
import { opsSpans, spanBuffers } from '../span-batch.js';
import type {
  EngineCursor,
  EngineEntry,
  EngineSupports,
  SpanBatch,
  StorageEngine,
  WriteOp,
} from '../types.js';
import { lmdbWriter, newWriteStatus, waitWriteStatus } from './lmdb-writer.js';

/** LMDB's largest key, in bytes (the default page size's limit that lmdb-js is built with). */
export const LMDB_MAX_KEY_SIZE = 1978;

const META_KEY = Buffer.from('meta');
const SUPPORTS: EngineSupports = { persistent: true };

export interface LmdbEngineOptions {
  /** The store's directory; created when missing. The environment is `<dir>/data.mdb`. */
  readonly dir: string;
  /** The store's name, for error messages. */
  readonly name: string;
  /** The initial map size in bytes; lmdb-js grows the map on demand past it. */
  readonly mapSize?: number;
}

type BinaryDb = Database<Buffer, Buffer>;

/** Batches of at least this many ops are written in (about) key order. */
const SORT_FROM = 256;
/** 2^21: room for the op's index below a 32-bit key prefix in one float64 (2^53). */
const INDEX_SPAN = 2_097_152;

/**
 * The order to write a batch in: by the first 4 bytes of each key, ties in batch order. A B+tree
 * takes random keys faster in key order: consecutive puts descend to neighbouring leaves while the
 * path is still in the CPU cache, instead of one cold descent per key (raw LMDB, 100k random keys
 * per transaction into a 1M-key tree: 1.07 s instead of 2.08 s of puts per million; in the runtime
 * benchmark the engine's writes took 4.2 s instead of 4.6 s). The result is the same: ops on one key
 * share a prefix, so they keep their order. Native Float64Array sort, no comparator calls: ~20 ms
 * per 100k ops.
 */
function keyOrder(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): Float64Array | undefined {
  const n = ops.length;
  if (n >= INDEX_SPAN) return undefined;
  const order = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = ops[i].key;
    const prefix = (k[0] ?? 0) * 0x1000000 + ((k[1] ?? 0) << 16) + ((k[2] ?? 0) << 8) + (k[3] ?? 0);
    order[i] = prefix * INDEX_SPAN + i;
  }
  order.sort();
  for (let i = 0; i < n; i++) order[i] %= INDEX_SPAN;
  return order;
}
/**
 * `keyOrder` for span batches: the ops of every batch numbered in order (flat index k), `batchOf[k]`
 * and `opOf[k]` say where op k is, `order` lists the flat indexes by key prefix (ties in order).
 */
function spanOrder(
  batches: readonly SpanBatch[],
): { order: Float64Array; batchOf: Uint16Array; opOf: Int32Array } | undefined {
  let n = 0;
  for (const batch of batches) n += batch.count;
  if (n >= INDEX_SPAN || batches.length > 0xffff) return undefined;
  const order = new Float64Array(n);
  const batchOf = new Uint16Array(n);
  const opOf = new Int32Array(n);
  let k = 0;
  for (let b = 0; b < batches.length; b++) {
    const { buf, count, keyStart, keyLength } = batches[b];
    for (let i = 0; i < count; i++, k++) {
      const at = keyStart[i];
      const kl = keyLength[i];
      const prefix =
        (kl > 0 ? buf[at] * 0x1000000 : 0) +
        (kl > 1 ? buf[at + 1] << 16 : 0) +
        (kl > 2 ? buf[at + 2] << 8 : 0) +
        (kl > 3 ? buf[at + 3] : 0);
      order[k] = prefix * INDEX_SPAN + k;
      batchOf[k] = b;
      opOf[k] = i;
    }
  }
  order.sort();
  for (let j = 0; j < n; j++) order[j] %= INDEX_SPAN;
  return { order, batchOf, opOf };
}

type RangeIterator = Iterator<{ key: Buffer; value: Buffer }>;

/** A cursor over one LMDB read transaction. */
class LmdbCursor implements EngineCursor {
  #it: RangeIterator | undefined;
  readonly #owner: Set<LmdbCursor> | undefined;

  constructor(it: RangeIterator | undefined, owner: Set<LmdbCursor> | undefined) {
    this.#it = it;
    this.#owner = owner;
  }

  next(): EngineEntry | undefined {
    const it = this.#it;
    if (it === undefined) return undefined;
    const step = it.next();
    if (step.done) {
      // lmdb-js releases the read transaction itself when the iteration ends.
      this.#it = undefined;
      this.#owner?.delete(this);
      return undefined;
    }
    return step.value;
  }

  close(): void {
    const it = this.#it;
    if (it === undefined) return;
    this.#it = undefined;
    this.#owner?.delete(this);
    it.return?.();
  }
}

const EMPTY_CURSOR: EngineCursor = new LmdbCursor(undefined, undefined);

/** A write running on the writer thread: its status word and the promise of its reply. */
interface BackgroundWrite {
  readonly status: Int32Array;
  readonly ops: number;
  done: Promise<void>;
}

export class LmdbEngine implements StorageEngine {
  readonly kind = 'lmdb';
  readonly supports = SUPPORTS;
  readonly name: string;
  readonly path: string;
  readonly #dir: string;
  readonly #mapSize: number | undefined;

  #env: RootDatabase<Buffer, Buffer> | undefined;
  readonly #data: BinaryDb;
  readonly #meta: BinaryDb;
  readonly #cursors = new Set<LmdbCursor>();
  #closing: Promise<void> | undefined;
  /** The write in flight on the writer thread, if any. */
  #background: BackgroundWrite | undefined;
  /** Whether the writer thread holds this environment (released at close). */
  #usedWriter = false;
  // The batch being written, read by #applyBatch; fields instead of a closure per write.
  #ops: readonly WriteOp<Uint8Array, Uint8Array>[] = [];
  #pendingMeta: Uint8Array | undefined;
  readonly #applyBatch = (): void => {
    const data = this.#data;
    const ops = this.#ops;
    const order = ops.length >= SORT_FROM ? keyOrder(ops) : undefined;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[order === undefined ? i : order[i]];
      if (op.value === null) data.removeSync(asBuffer(op.key));
      else data.putSync(asBuffer(op.key), asBuffer(op.value));
    }
    if (this.#pendingMeta !== undefined) this.#meta.putSync(META_KEY, asBuffer(this.#pendingMeta));
  };
  #spans: readonly SpanBatch[] = [];
  readonly #applySpans = (): void => {
    const data = this.#data;
    const batches = this.#spans;
    const sorted = spanOrder(batches);
    if (sorted !== undefined) {
      const { order, batchOf, opOf } = sorted;
      for (let j = 0; j < order.length; j++) {
        const k = order[j];
        this.#putSpan(data, batches[batchOf[k]], opOf[k]);
      }
    } else {
      for (const batch of batches) for (let i = 0; i < batch.count; i++) this.#putSpan(data, batch, i);
    }
    if (this.#pendingMeta !== undefined) this.#meta.putSync(META_KEY, asBuffer(this.#pendingMeta));
  };
  readonly #clearBoth = (): void => {
    this.#data.clearSync();
    this.#meta.clearSync();
  };

  private constructor(options: LmdbEngineOptions) {
    this.name = options.name;
    this.path = join(options.dir, 'data.mdb');
    this.#dir = options.dir;
    this.#mapSize = options.mapSize;
    try {
      mkdirSync(options.dir, { recursive: true });
      const env = open<Buffer, Buffer>({
        path: this.path,
        keyEncoding: 'binary',
        encoding: 'binary',
        maxDbs: 4,
        noSync: false,
        noMetaSync: false,
        overlappingSync: false,
        cache: false,
        compression: false,
        ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }),
      });
      this.#env = env;
      this.#data = env.openDB<Buffer, Buffer>({ name: 'data', keyEncoding: 'binary', encoding: 'binary' });
      this.#meta = env.openDB<Buffer, Buffer>({ name: 'meta', keyEncoding: 'binary', encoding: 'binary' });
    } catch (err) {
      throw new EngineError(`cannot open the lmdb store "${options.name}" at ${this.path}: ${String(err)}`, {
        cause: err,
      });
    }
  }

  /** Opens (creating when missing) the environment in `options.dir`. Synchronous. */
  static open(options: LmdbEngineOptions): LmdbEngine {
    return new LmdbEngine(options);
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.#check();
    if (key.length === 0) return undefined;
    // lmdb-js's getBinary copies into a fresh ArrayBuffer per value; getBinaryFast's buffer is reused
    // by the next get (or maps the file), so it is copied here, into the Buffer pool for small values:
    // 0.55 s less per million gets (63% hits) than getBinary. lmdb-js sets the shared buffer's
    // `length` to the value's size, hence `subarray(0, length)`.
    const shared = this.#data.getBinaryFast(asBuffer(key));
    return shared === undefined ? undefined : Buffer.from(shared.subarray(0, shared.length));
  }

  checkKey(key: Uint8Array): void {
    const len = key.length;
    if (len === 0 || len > LMDB_MAX_KEY_SIZE) throw this.#badKey(len);
  }

  write(ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array): void {
    this.#check();
    this.#checkKeys(ops);
    if (ops.length === 0 && meta === undefined) return;
    this.settle();
    this.#ops = ops;
    this.#pendingMeta = meta;
    try {
      this.#data.transactionSync(this.#applyBatch);
    } catch (err) {
      throw new EngineError(
        `lmdb store "${this.name}": the write of ${ops.length} ops failed, nothing was written`,
        {
          cause: err,
        },
      );
    } finally {
      this.#ops = [];
      this.#pendingMeta = undefined;
    }
  }

  /**
   * The bulk path of a restore (`StorageEngine.writeSpans`): one synchronous transaction, like
   * `write`, in key-prefix order, with the keys and values passed to LMDB as views of the batches'
   * buffers (no op objects). Keys are checked first: a bad one writes nothing.
   */
  writeSpans(batches: readonly SpanBatch[], meta?: Uint8Array): void {
    this.#check();
    let n = 0;
    for (const { count, keyLength } of batches) {
      for (let i = 0; i < count; i++) {
        const len = keyLength[i];
        if (len === 0 || len > LMDB_MAX_KEY_SIZE) throw this.#badKey(len);
      }
      n += count;
    }
    if (n === 0 && meta === undefined) return;
    this.settle();
    this.#spans = batches;
    this.#pendingMeta = meta;
    try {
      this.#data.transactionSync(this.#applySpans);
    } catch (err) {
      throw new EngineError(`lmdb store "${this.name}": the write of ${n} ops failed, nothing was written`, {
        cause: err,
      });
    } finally {
      this.#spans = [];
      this.#pendingMeta = undefined;
    }
  }

  /**
   * `write(ops, meta)` run on the lmdb writer thread (`lmdb-writer.ts`): the ops are copied into one
   * buffer and handed over, and this returns at once. The promise resolves once the transaction is
   * committed and on disk, and rejects (nothing written) when it failed; keys are checked first
   * (a bad one throws here, nothing sent). Until it settles, reads see the state before the write
   * or, once committed, after it; one write at a time (a second call, and every synchronous write,
   * `clear` and `close`, first waits for the one in flight).
   */
  writeInBackground(ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array): Promise<void> {
    this.#check();
    this.#checkKeys(ops);
    this.settle();
    const batch = opsSpans(ops);
    const status = newWriteStatus();
    this.#usedWriter = true;
    const sent = lmdbWriter.write(
      { dir: this.#dir, name: this.name, mapSize: this.#mapSize, batch, meta, status },
      spanBuffers(batch),
    );
    const write: BackgroundWrite = { status, ops: ops.length, done: sent };
    write.done = sent.then(
      () => this.#landed(write),
      (err: unknown) => {
        this.#landed(write);
        throw this.#backgroundFailed(write, err);
      },
    );
    this.#background = write;
    return write.done;
  }

  /**
   * Blocks until the background write in flight (if any) is over, so that reads see it; throws
   * `EngineError` when it failed (its promise rejects too).
   */
  settle(): void {
    const write = this.#background;
    if (write === undefined) return;
    const failure = waitWriteStatus(write.status);
    this.#landed(write);
    if (failure !== undefined) throw this.#backgroundFailed(write, failure);
  }

  /** A background write is over: reads move to the newest committed state. */
  #landed(write: BackgroundWrite): void {
    if (this.#background !== write) return;
    this.#background = undefined;
    this.#env?.resetReadTxn();
  }

  #backgroundFailed(write: BackgroundWrite, cause: unknown): EngineError {
    return new EngineError(
      `lmdb store "${this.name}": the background write of ${write.ops} ops failed, nothing was written: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }

  #checkKeys(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    for (let i = 0; i < ops.length; i++) {
      const len = ops[i].key.length;
      if (len === 0 || len > LMDB_MAX_KEY_SIZE) throw this.#badKey(len);
    }
  }

  #putSpan(data: BinaryDb, batch: SpanBatch, i: number): void {
    const kl = batch.keyLength[i];
    if (kl < 0) return;
    const buf = asBuffer(batch.buf);
    const ka = batch.keyStart[i];
    const key = buf.subarray(ka, ka + kl);
    const vl = batch.valueLength[i];
    if (vl < 0) data.removeSync(key);
    else data.putSync(key, buf.subarray(batch.valueStart[i], batch.valueStart[i] + vl));
  }

  range(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor {
    this.#check();
    if (to !== undefined && (to.length === 0 || (from !== undefined && compareBytes(from, to) >= 0))) {
      return EMPTY_CURSOR;
    }
    const options: { start?: Buffer; end?: Buffer } = {};
    if (from !== undefined && from.length > 0) options.start = asBuffer(from);
    if (to !== undefined) options.end = asBuffer(to);
    const it = this.#data.getRange(options)[Symbol.iterator]() as RangeIterator;
    const cursor = new LmdbCursor(it, this.#cursors);
    this.#cursors.add(cursor);
    return cursor;
  }

  snapshot(from: Uint8Array | undefined, to: Uint8Array | undefined): EngineCursor {
    // An LMDB read transaction is already a stable snapshot.
    return this.range(from, to);
  }

  readMeta(): Uint8Array | undefined {
    this.#check();
    return this.#meta.getBinary(META_KEY);
  }

  clear(): void {
    this.#check();
    this.settle();
    try {
      this.#data.transactionSync(this.#clearBoth);
    } catch (err) {
      throw new EngineError(`lmdb store "${this.name}": clear failed`, { cause: err });
    }
  }

  async flush(): Promise<void> {
    this.#check();
    // the writer thread's commit syncs; a failure there is its promise's to report
    await this.#background?.done.catch(() => {});
    const env = this.#env as RootDatabase<Buffer, Buffer>;
    await new Promise<void>((resolve, reject) => {
      // `sync` is on the root database at run time, missing from lmdb's typings.
      (env as unknown as { sync(cb: (err?: unknown) => void): void }).sync((err) => {
        if (err) reject(new EngineError(`lmdb store "${this.name}": sync to disk failed`, { cause: err }));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      const env = this.#env;
      this.#env = undefined;
      for (const cursor of [...this.#cursors]) cursor.close();
      this.#closing = env === undefined ? Promise.resolve() : this.#closeEnv(env);
    }
    return this.#closing;
  }

  /** After the background write in flight (its failure is its promise's to report) and the writer's handle. */
  async #closeEnv(env: RootDatabase<Buffer, Buffer>): Promise<void> {
    await this.#background?.done.catch(() => {});
    if (this.#usedWriter) await lmdbWriter.release(this.#dir).catch(() => {});
    await env.close();
  }

  #check(): void {
    if (this.#env === undefined) throw new StoreClosedError(this.name);
  }

  #badKey(len: number): InvalidKeyError {
    return new InvalidKeyError(
      len === 0
        ? `lmdb store "${this.name}": LMDB cannot store an empty key; use a non-empty key or the rocksdb/memory engine`
        : `lmdb store "${this.name}": a key of ${len} bytes is over LMDB's maximum of ${LMDB_MAX_KEY_SIZE} bytes`,
    );
  }
}
