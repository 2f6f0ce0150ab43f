/**
 * Raw library rates of the persistent engines' libraries, called directly (no Eddy layer), so the
 * store benchmark (`bench/store.ts`) can print raw vs. Eddy side by side.
 *
 * Each row writes the given distinct keys (8-byte big-endian, in a shuffled order) with 100-byte
 * values in batches of 10,000 per transaction / write batch, then gets the keys at the given random
 * indexes (one `get` each) and scans everything; `measureRows` runs several rows side by side,
 * every phase interleaved (see there). Durability settings
 * are the ones Eddy's engines use (lmdb: synchronous commit per transaction; rocksdb: WAL without
 * fsync per batch), so the comparison is fair.
 *
 * Run once by hand: `node --import tsx bench/store-engines.ts [n]`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Database, open } from 'lmdb';

export interface RawRates {
  /** Puts per second (batched). */
  readonly put: number;
  /** Random gets per second. */
  readonly get: number;
  /** Entries per second of a full range scan. */
  readonly scan: number;
}

const BATCH = 10_000;
const VALUE_SIZE = 100;

/** A 32-bit PRNG (mulberry32): fast, and every output bit is usable (an LCG's low bits are not). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` distinct 8-byte big-endian keys (`i * 2654435761`) in a fixed shuffled order. One slab, keys
 * are views into it: a million small `Buffer.allocUnsafe` would be a million pool slices the
 * benchmark itself makes the garbage collector trace on every major GC.
 */
export function keysFor(n: number): Buffer[] {
  const slab = Buffer.allocUnsafeSlow(8 * n);
  const keys: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) {
    slab.writeBigUInt64BE(BigInt(i) * 2654435761n, 8 * i);
    keys[i] = slab.subarray(8 * i, 8 * i + 8);
  }
  const random = prng(42);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = keys[i];
    keys[i] = keys[j];
    keys[j] = tmp;
  }
  return keys;
}

/**
 * `count` uniformly random indexes below `n` (a fixed sequence). The previous LCG `seed % n` hit
 * only ~6,000 distinct keys of 1,000,000, so "random gets" were nearly all cache hits.
 */
export function randomOrder(n: number, count: number): Int32Array {
  const out = new Int32Array(count);
  const random = prng(7);
  for (let i = 0; i < count; i++) out[i] = Math.floor(random() * n);
  return out;
}

const rate = (ops: number, ms: number): number => Math.round((ops / ms) * 1000);

/** Rounds of read phases; each row's best round counts. */
export const READ_RUNS = 3;

/** One row of a comparison: a store, written batch by batch, then read. */
export interface Row {
  /** Writes keys[start..end), one batch (one transaction or write batch where the row batches). */
  putBatch(start: number, end: number): void | Promise<void>;
  /** After the last batch, timed with the puts (a flush, for rows that buffer). */
  finishPuts(): Promise<void>;
  /** One get of each key at the random indexes; throws when one is missing. */
  getPass(): void;
  /** One full scan; the entries seen. */
  scanPass(): number;
  close(): Promise<void>;
}

/**
 * Measures `rows` side by side, every phase interleaved so that every row runs under the same
 * process state (heap, GC, page cache, the disk's writeback) — one row after the other would not:
 * - puts: batch after batch of `BATCH` keys, each row writing the same batch in turn, each row's
 *   own time summed (then its `finishPuts`);
 * - reads: READ_RUNS rounds, each timing every row's get pass then every row's scan; each row's
 *   best round counts.
 */
export async function measureRows(rows: readonly Row[], n: number, gets: number): Promise<RawRates[]> {
  const putMs = rows.map(() => 0);
  for (let start = 0; start < n; start += BATCH) {
    const end = Math.min(n, start + BATCH);
    for (let i = 0; i < rows.length; i++) {
      const t0 = performance.now();
      await rows[i].putBatch(start, end);
      putMs[i] += performance.now() - t0;
    }
  }
  for (let i = 0; i < rows.length; i++) {
    const t0 = performance.now();
    await rows[i].finishPuts();
    putMs[i] += performance.now() - t0;
  }
  const out = rows.map((_, i) => ({ put: rate(n, putMs[i]), get: 0, scan: 0 }));
  for (let round = 0; round < READ_RUNS; round++) {
    rows.forEach((row, i) => {
      const t0 = performance.now();
      row.getPass();
      out[i].get = Math.max(out[i].get, rate(gets, performance.now() - t0));
    });
    rows.forEach((row, i) => {
      const t0 = performance.now();
      const scanned = row.scanPass();
      out[i].scan = Math.max(out[i].scan, rate(scanned, performance.now() - t0));
      if (scanned !== n) throw new Error(`scanned ${scanned} of ${n}`);
    });
  }
  return out;
}

/**
 * lmdb-js's fastest read that hands the caller its own bytes (what Eddy's engine does): the shared
 * buffer of `getBinaryFast` copied into the Buffer pool. lmdb-js sets that buffer's `length` to the
 * value's size, so `subarray(0, length)` is the value. (`getBinary` allocates an ArrayBuffer per value.)
 */
export function readCopy(db: Database<Buffer, Buffer>, key: Buffer): Buffer | undefined {
  const shared = db.getBinaryFast(key);
  return shared === undefined ? undefined : Buffer.from(shared.subarray(0, shared.length));
}

export function openRawLmdb(path: string) {
  const env = open<Buffer, Buffer>({
    path,
    keyEncoding: 'binary',
    encoding: 'binary',
    maxDbs: 4,
    // Eddy's lmdb engine durability: classic synchronous commits (fsync per transaction).
    noSync: false,
    noMetaSync: false,
    overlappingSync: false,
    cache: false,
    compression: false,
  });
  const db = env.openDB<Buffer, Buffer>({ name: 'data', keyEncoding: 'binary', encoding: 'binary' });
  return { env, db };
}

/**
 * lmdb called directly, one row per batched write path, both with 10k ops per transaction:
 * `sync`: `transactionSync` of `putSync`s (each transaction commits and fsyncs before it returns,
 * as Eddy's engine does); `async`: `put`s batched by lmdb-js into one transaction on its write
 * thread, then `await db.committed`. Gets are `readCopy` (copying, like the engine), the scan
 * `getRange`.
 */
export function rawLmdbRow(path: string, keys: Buffer[], order: Int32Array, mode: 'sync' | 'async'): Row {
  const value = Buffer.alloc(VALUE_SIZE, 0x61);
  mkdirSync(path, { recursive: true });
  const { env, db } = openRawLmdb(join(path, 'data.mdb'));
  return {
    putBatch(start, end) {
      if (mode === 'sync') {
        db.transactionSync(() => {
          for (let i = start; i < end; i++) db.putSync(keys[i], value);
        });
        return;
      }
      for (let i = start; i < end; i++) db.put(keys[i], value);
      return db.committed.then(() => undefined);
    },
    finishPuts: async () => {},
    getPass() {
      let found = 0;
      for (let i = 0; i < order.length; i++) if (readCopy(db, keys[order[i]]) !== undefined) found++;
      if (found !== order.length) throw new Error(`lmdb bench: ${order.length - found} keys missing`);
    },
    scanPass() {
      let scanned = 0;
      for (const _entry of db.getRange({})) scanned++;
      return scanned;
    },
    close: () => env.close(),
  };
}

interface RocksBinding {
  db_init(location: string): unknown;
  db_open(
    db: unknown,
    options: object,
    callback: (err: Error | null, columns: Record<string, unknown>) => void,
  ): void;
  db_close(db: unknown, callback: (err: Error | null) => void): void;
  db_get_many_sync(db: unknown, keys: Buffer[], options: object): (Buffer | undefined)[];
  iterator_init(db: unknown, options: object): unknown;
  iterator_nextv_sync(it: unknown, count: number): { rows: Buffer[]; finished: boolean };
  iterator_close(it: unknown): void;
  batch_init(): unknown;
  batch_put(batch: unknown, key: Buffer, value: Buffer, options: object): void;
  batch_clear(batch: unknown): void;
  batch_write(db: unknown, batch: unknown, options: object): void;
}

/** @nxtedition/rocksdb's native binding called directly: write batches of 10k, sync MultiGet, iterator. */
export async function rawRocksRow(dir: string, keys: Buffer[], order: Int32Array): Promise<Row> {
  const rocks = createRequire(import.meta.url)('@nxtedition/rocksdb/binding.js') as RocksBinding;
  mkdirSync(dir, { recursive: true });
  const db = rocks.db_init(dir);
  await new Promise<void>((resolve, reject) =>
    rocks.db_open(db, { createIfMissing: true, parallelism: 2 }, (err) => (err ? reject(err) : resolve())),
  );
  const value = Buffer.alloc(VALUE_SIZE, 0x61);
  const batch = rocks.batch_init();
  const none = {};
  const noSync = { sync: false };
  const one: Buffer[] = [keys[0]];
  return {
    putBatch(start, end) {
      for (let i = start; i < end; i++) rocks.batch_put(batch, keys[i], value, none);
      rocks.batch_write(db, batch, noSync);
      rocks.batch_clear(batch);
    },
    finishPuts: async () => {},
    getPass() {
      let found = 0;
      for (let i = 0; i < order.length; i++) {
        one[0] = keys[order[i]];
        if (rocks.db_get_many_sync(db, one, none)[0] !== undefined) found++;
      }
      if (found !== order.length) throw new Error(`rocksdb bench: ${order.length - found} keys missing`);
    },
    scanPass() {
      let scanned = 0;
      const it = rocks.iterator_init(db, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      for (;;) {
        const { rows, finished } = rocks.iterator_nextv_sync(it, 1024);
        scanned += rows.length / 2;
        if (finished || rows.length === 0) break;
      }
      rocks.iterator_close(it);
      return scanned;
    },
    close: () =>
      new Promise<void>((resolve, reject) => rocks.db_close(db, (err) => (err ? reject(err) : resolve()))),
  };
}

/** Runs the raw rows side by side in fresh temp dirs, removed afterwards. */
export async function rawEngineRates(n = 1_000_000): Promise<Record<string, RawRates>> {
  const root = join(tmpdir(), `eddy-bench-engines-${process.pid}`);
  const keys = keysFor(n);
  const order = randomOrder(n, Math.min(n, 200_000));
  const names = ['lmdb sync', 'lmdb async', 'rocksdb'];
  const rows: Row[] = [];
  try {
    rows.push(rawLmdbRow(join(root, 'lmdb-sync'), keys, order, 'sync'));
    rows.push(rawLmdbRow(join(root, 'lmdb-async'), keys, order, 'async'));
    rows.push(await rawRocksRow(join(root, 'rocksdb'), keys, order));
    const rates = await measureRows(rows, n, order.length);
    return Object.fromEntries(names.map((name, i) => [name, rates[i]]));
  } finally {
    for (const r of rows) await r.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 1_000_000);
  const rates = await rawEngineRates(n);
  for (const [name, r] of Object.entries(rates)) {
    console.log(
      `${name.padEnd(11)} raw  put ${r.put.toLocaleString('en')}/s  get ${r.get.toLocaleString('en')}/s  scan ${r.scan.toLocaleString('en')}/s  (${n.toLocaleString('en')} keys, ${VALUE_SIZE}-byte values)`,
    );
  }
}
