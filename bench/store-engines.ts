/**
 * Raw library rates of the persistent engines' libraries, called directly (no Eddy layer), so the
 * store benchmark (`bench/store.ts`) can print raw vs. Eddy side by side.
 *
 * Each function writes `n` distinct keys (8-byte big-endian counters, in a shuffled order) with
 * 100-byte values in batches of 10,000 per transaction / write batch, then does `n` gets of random
 * existing keys, then one full range scan, and returns ops/s for each phase. Durability settings
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

function keysFor(n: number): Buffer[] {
  const keys: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const key = Buffer.allocUnsafe(8);
    key.writeBigUInt64BE(BigInt(i) * 2654435761n);
    keys[i] = key;
  }
  // Fisher-Yates with a fixed LCG: the same order on every run.
  let seed = 42;
  for (let i = n - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const j = seed % (i + 1);
    const tmp = keys[i];
    keys[i] = keys[j];
    keys[j] = tmp;
  }
  return keys;
}

function randomOrder(n: number, count: number): Int32Array {
  const out = new Int32Array(count);
  let seed = 7;
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out[i] = seed % n;
  }
  return out;
}

const rate = (ops: number, ms: number): number => Math.round((ops / ms) * 1000);

/** lmdb called directly: `transactionSync` batches of 10k `putSync`, `getBinary`, `getRange`. */
export async function rawLmdbRates(dir: string, n = 1_000_000): Promise<RawRates> {
  mkdirSync(dir, { recursive: true });
  const env = open<Buffer, Buffer>({
    path: join(dir, 'data.mdb'),
    keyEncoding: 'binary',
    encoding: 'binary',
    maxDbs: 4,
    overlappingSync: false,
    cache: false,
  });
  const db = env.openDB<Buffer, Buffer>({ name: 'data', keyEncoding: 'binary', encoding: 'binary' });
  try {
    const keys = keysFor(n);
    const value = Buffer.alloc(VALUE_SIZE, 0x61);
    let t0 = performance.now();
    for (let start = 0; start < n; start += BATCH) {
      const end = Math.min(n, start + BATCH);
      db.transactionSync(() => {
        for (let i = start; i < end; i++) db.putSync(keys[i], value);
      });
    }
    const put = rate(n, performance.now() - t0);

    const order = randomOrder(n, n);
    let found = 0;
    t0 = performance.now();
    for (let i = 0; i < n; i++) if (db.getBinary(keys[order[i]]) !== undefined) found++;
    const get = rate(n, performance.now() - t0);
    if (found !== n) throw new Error(`lmdb bench: ${n - found} keys missing`);

    let scanned = 0;
    t0 = performance.now();
    for (const _entry of db.getRange({})) scanned++;
    const scan = rate(scanned, performance.now() - t0);
    if (scanned !== n) throw new Error(`lmdb bench: scanned ${scanned} of ${n}`);
    return { put, get, scan };
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
export async function rawRocksRates(dir: string, n = 1_000_000): Promise<RawRates> {
  const rocks = createRequire(import.meta.url)('@nxtedition/rocksdb/binding.js') as RocksBinding;
  mkdirSync(dir, { recursive: true });
  const db = rocks.db_init(dir);
  await new Promise<void>((resolve, reject) =>
    rocks.db_open(db, { createIfMissing: true, parallelism: 2 }, (err) => (err ? reject(err) : resolve())),
  );
  try {
    const keys = keysFor(n);
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

    const order = randomOrder(n, n);
    let found = 0;
    const one: Buffer[] = [keys[0]];
    t0 = performance.now();
    for (let i = 0; i < n; i++) {
      one[0] = keys[order[i]];
      if (rocks.db_get_many_sync(db, one, none)[0] !== undefined) found++;
    }
    const get = rate(n, performance.now() - t0);
    if (found !== n) throw new Error(`rocksdb bench: ${n - found} keys missing`);

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
export async function rawEngineRates(n = 1_000_000): Promise<{ lmdb: RawRates; rocksdb: RawRates }> {
  const root = join(tmpdir(), `eddy-bench-engines-${process.pid}`);
  try {
    const lmdb = await rawLmdbRates(join(root, 'lmdb'), n);
    const rocksdb = await rawRocksRates(join(root, 'rocksdb'), n);
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
}
