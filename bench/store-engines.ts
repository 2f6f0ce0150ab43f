/**
 * Raw library rates of the persistent engines' libraries, called directly (no Eddy layer), so the
 * store benchmark (`bench/store.ts`) can print raw vs. Eddy side by side.
 *
 * Each function writes the given distinct keys (8-byte big-endian, in a shuffled order) with
 * 100-byte values in batches of 10,000 per transaction / write batch, then gets the keys at the
 * given random indexes (one `get` each), then does one full range scan, and returns ops/s for each
 * phase. Durability settings
 * are the ones Eddy's engines use (lmdb: synchronous commit per transaction; rocksdb: WAL without
 * fsync per batch), so the comparison is fair.
 *
 * Run once by hand: `node --import tsx bench/store-engines.ts [n]`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';

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

/** Read phases run this many times; the best rate counts (one pass is at the mercy of the GC and the page cache). */
export const READ_RUNS = 3;

/** The best ops/s of `READ_RUNS` runs of `run`, which does `ops` operations. */
export function bestRate(ops: number, run: () => void): number {
  let best = 0;
  for (let i = 0; i < READ_RUNS; i++) {
    const t0 = performance.now();
    run();
    best = Math.max(best, rate(ops, performance.now() - t0));
  }
  return best;
}

/** How the raw lmdb put phase was run; the fastest of these is the raw lmdb "put" rate. */
export interface LmdbPutPaths {
  /** `transactionSync` of 10k `putSync` (each transaction commits and fsyncs before it returns). */
  readonly syncTxn: number;
  /** 10k async `put`s batched by lmdb-js into one write transaction, then `await db.committed`. */
  readonly asyncBatch: number;
}

export interface RawLmdbRates extends RawRates {
  readonly putPaths: LmdbPutPaths;
  readonly putPath: keyof LmdbPutPaths;
}

function openRawLmdb(path: string) {
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
 * lmdb called directly. Puts are measured both ways, each into a fresh environment, with the same
 * 10k ops per transaction; the faster is reported as `put`. Gets (`getBinary`, copying, like the
 * engine) and the scan (`getRange`) run on the store the faster path built.
 */
export async function rawLmdbRates(dir: string, keys: Buffer[], order: Int32Array): Promise<RawLmdbRates> {
  const n = keys.length;
  const value = Buffer.alloc(VALUE_SIZE, 0x61);
  mkdirSync(dir, { recursive: true });

  const sync = openRawLmdb(join(dir, 'sync.mdb'));
  let t0 = performance.now();
  for (let start = 0; start < n; start += BATCH) {
    const end = Math.min(n, start + BATCH);
    sync.db.transactionSync(() => {
      for (let i = start; i < end; i++) sync.db.putSync(keys[i], value);
    });
  }
  const syncTxn = rate(n, performance.now() - t0);

  const batched = openRawLmdb(join(dir, 'async.mdb'));
  t0 = performance.now();
  for (let start = 0; start < n; start += BATCH) {
    const end = Math.min(n, start + BATCH);
    for (let i = start; i < end; i++) batched.db.put(keys[i], value);
    await batched.db.committed;
  }
  const asyncBatch = rate(n, performance.now() - t0);

  const putPath = syncTxn >= asyncBatch ? 'syncTxn' : 'asyncBatch';
  const { env, db } = putPath === 'syncTxn' ? sync : batched;
  await (putPath === 'syncTxn' ? batched : sync).env.close();
  try {
    const get = bestRate(order.length, () => {
      let found = 0;
      for (let i = 0; i < order.length; i++) if (db.getBinary(keys[order[i]]) !== undefined) found++;
      if (found !== order.length) throw new Error(`lmdb bench: ${order.length - found} keys missing`);
    });

    let scanned = 0;
    t0 = performance.now();
    for (const _entry of db.getRange({})) scanned++;
    const scan = rate(scanned, performance.now() - t0);
    if (scanned !== n) throw new Error(`lmdb bench: scanned ${scanned} of ${n}`);
    return { put: Math.max(syncTxn, asyncBatch), get, scan, putPaths: { syncTxn, asyncBatch }, putPath };
  } finally {
    await env.close();
  }
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
export async function rawRocksRates(dir: string, keys: Buffer[], order: Int32Array): Promise<RawRates> {
  const n = keys.length;
  const rocks = createRequire(import.meta.url)('@nxtedition/rocksdb/binding.js') as RocksBinding;
  mkdirSync(dir, { recursive: true });
  const db = rocks.db_init(dir);
  await new Promise<void>((resolve, reject) =>
    rocks.db_open(db, { createIfMissing: true, parallelism: 2 }, (err) => (err ? reject(err) : resolve())),
  );
  try {
    const value = Buffer.alloc(VALUE_SIZE, 0x61);
    const batch = rocks.batch_init();
    const none = {};
    const noSync = { sync: false };
    let t0 = performance.now();
    for (let start = 0; start < n; start += BATCH) {
      const end = Math.min(n, start + BATCH);
      for (let i = start; i < end; i++) rocks.batch_put(batch, keys[i], value, none);
      rocks.batch_write(db, batch, noSync);
      rocks.batch_clear(batch);
    }
    const put = rate(n, performance.now() - t0);

    const one: Buffer[] = [keys[0]];
    const get = bestRate(order.length, () => {
      let found = 0;
      for (let i = 0; i < order.length; i++) {
        one[0] = keys[order[i]];
        if (rocks.db_get_many_sync(db, one, none)[0] !== undefined) found++;
      }
      if (found !== order.length) throw new Error(`rocksdb bench: ${order.length - found} keys missing`);
    });

    let scanned = 0;
    t0 = performance.now();
    const it = rocks.iterator_init(db, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    for (;;) {
      const { rows, finished } = rocks.iterator_nextv_sync(it, 1024);
      scanned += rows.length / 2;
      if (finished || rows.length === 0) break;
    }
    rocks.iterator_close(it);
    const scan = rate(scanned, performance.now() - t0);
    if (scanned !== n) throw new Error(`rocksdb bench: scanned ${scanned} of ${n}`);
    return { put, get, scan };
  } finally {
    await new Promise<void>((resolve, reject) =>
      rocks.db_close(db, (err) => (err ? reject(err) : resolve())),
    );
  }
}

/** Runs both in fresh temp dirs, removed afterwards. */
export async function rawEngineRates(n = 1_000_000): Promise<{ lmdb: RawLmdbRates; rocksdb: RawRates }> {
  const root = join(tmpdir(), `eddy-bench-engines-${process.pid}`);
  const keys = keysFor(n);
  const order = randomOrder(n, n);
  try {
    const lmdb = await rawLmdbRates(join(root, 'lmdb'), keys, order);
    const rocksdb = await rawRocksRates(join(root, 'rocksdb'), keys, order);
    return { lmdb, rocksdb };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 1_000_000);
  const rates = await rawEngineRates(n);
  for (const [name, r] of Object.entries(rates)) {
    console.log(
      `${name.padEnd(8)} raw  put ${r.put.toLocaleString('en')}/s  get ${r.get.toLocaleString('en')}/s  scan ${r.scan.toLocaleString('en')}/s  (${n.toLocaleString('en')} keys, ${VALUE_SIZE}-byte values)`,
    );
  }
  console.log(`lmdb put paths: ${JSON.stringify(rates.lmdb.putPaths)}`);
}
