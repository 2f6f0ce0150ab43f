/**
 * Store benchmark: put, get and full-scan rates of every engine and every stack, next to the raw
 * libraries called directly (`bench/store-engines.ts`), in the same run.
 *
 * Workload (the same as the raw functions): N distinct 8-byte keys in a shuffled order, 100-byte
 * values. Puts: stacks without a cache write `putAll` batches of 10,000 (one engine transaction
 * each, like the raw loop); stacks with the cache do one `put` per key, as a task does, with
 * `writeBatchSize` 10,000 so the cache hands the engine the same 10k batches; the put time
 * includes the final `flush()`. Gets: `--gets` (default 200,000, at most N) uniformly random
 * existing keys of the N, one `get` each, the same sequence for every row (mostly cache misses: the
 * cache holds 20,000 of N). Scan: one `all()` over every entry. The rows of an engine run side by
 * side, every phase interleaved (`measureRows`: each 10k batch written by every row in turn, then
 * three rounds of reads, the best counting), so that no row is measured under another heap, GC,
 * page-cache or disk-writeback state than its neighbours. Serdes are `bytes` (the layers'
 * cost, not a codec's); the changelog sink counts and drops records (the log's cost is bench/log).
 *
 * Ratio lines: for lmdb and rocksdb the full stack over the raw library, for memory (no raw
 * library) the full stack over the bare engine. Raw lmdb has two rows, its two batched write paths
 * (`transactionSync` + `putSync`, and async `put`s + `await committed`); the base is the better of
 * the two in each phase.
 *
 * Usage: npm run bench:store -- [--keys N] [--gets G] [--engines memory,lmdb,rocksdb]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachedStore } from '../src/store/cached-store.js';
import { EngineStore } from '../src/store/engine-store.js';
import { openEngineAsync } from '../src/store/engines/index.js';
import { LoggedStore } from '../src/store/logged-store.js';
import { openStore } from '../src/store/open-store.js';
import { serdes } from '../src/store/serdes.js';
import { SerializedStore } from '../src/store/serialized-store.js';
import type { ChangelogRecord, ChangelogSink, KeyValueStore } from '../src/store/types.js';
import {
  keysFor,
  measureRows,
  type RawRates,
  type Row,
  randomOrder,
  rawLmdbRow,
  rawRocksRow,
} from './store-engines.js';

const BATCH = 10_000;
const VALUE_SIZE = 100;

function arg(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const N = Number(arg('--keys') ?? 1_000_000);
/** Random gets per row: a bounded sample keeps the 1M-key run short; the rate is per get either way. */
const GETS = Math.min(N, Number(arg('--gets') ?? 200_000));
const ENGINES = (arg('--engines') ?? 'memory,lmdb,rocksdb').split(',');

/** Counts records and drops them. */
class CountingSink implements ChangelogSink {
  count = 0;
  send(records: readonly ChangelogRecord[]): void {
    this.count += records.length;
  }
  async flush(): Promise<number | undefined> {
    return this.count > 0 ? this.count - 1 : undefined;
  }
}

type Stack = 'engine' | '+changelog' | '+serde' | '+cache' | 'full';
const STACKS: Stack[] = ['engine', '+changelog', '+serde', '+cache', 'full'];

async function openStack(
  kind: string,
  stack: Stack,
  dir: string,
): Promise<KeyValueStore<Uint8Array, Uint8Array>> {
  if (stack === 'full') {
    return openStore({
      name: 'bench',
      dir,
      engine: kind as 'memory' | 'lmdb' | 'rocksdb',
      key: serdes.bytes,
      value: serdes.bytes,
      cacheSize: 2 * BATCH,
      writeBatchSize: BATCH,
      changelog: new CountingSink(),
    });
  }
  const engine = await openEngineAsync(kind, kind === 'memory' ? { name: 'bench' } : { name: 'bench', dir });
  let layer = new EngineStore(engine, { name: 'bench', trackChangelog: stack !== 'engine' }) as KeyValueStore<
    Uint8Array,
    Uint8Array
  >;
  if (stack === 'engine') return layer;
  layer = new LoggedStore(layer as EngineStore, new CountingSink());
  if (stack === '+changelog') return layer;
  const serialized = (inner: KeyValueStore<Uint8Array, Uint8Array>) =>
    new SerializedStore(inner as EngineStore, {
      key: serdes.bytes,
      value: serdes.bytes,
      maxRecordBytes: 1 << 20,
    });
  if (stack === '+serde') return serialized(layer);
  return serialized(new CachedStore(layer as EngineStore, { cacheSize: 2 * BATCH, writeBatchSize: BATCH }));
}

/** A stack as a row: puts through the stack (batches of BATCH, or one `put` per key for cached stacks). */
async function stackRow(kind: string, stack: Stack, keys: Buffer[], order: Int32Array): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-store-'));
  const store = await openStack(kind, stack, dir);
  const value = Buffer.alloc(VALUE_SIZE, 0x61);
  const cached = stack === '+cache' || stack === 'full';
  return {
    putBatch(start, end) {
      if (cached) {
        for (let i = start; i < end; i++) store.put(keys[i], value);
        return;
      }
      const batch: [Uint8Array, Uint8Array][] = new Array(end - start);
      for (let i = start; i < end; i++) batch[i - start] = [keys[i], value];
      store.putAll(batch);
    },
    finishPuts: () => store.flush(),
    getPass() {
      let found = 0;
      for (let i = 0; i < order.length; i++) if (store.get(keys[order[i]]) !== undefined) found++;
      if (found !== order.length) throw new Error(`${kind} ${stack}: ${order.length - found} keys missing`);
    },
    scanPass() {
      let scanned = 0;
      for (const _ of store.all()) scanned++;
      return scanned;
    },
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A raw row in its own temp dir, removed on close. */
async function rawRow(make: (dir: string) => Row | Promise<Row>): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-raw-'));
  const row = await make(dir);
  return {
    ...row,
    close: async () => {
      await row.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const fmt = (x: number): string => x.toLocaleString('en-US').padStart(12);

const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `store bench: ${N.toLocaleString('en-US')} keys, ${VALUE_SIZE}-byte values; put ${N.toLocaleString('en-US')}, get ${GETS.toLocaleString('en-US')} random existing keys, scan all; ops/s`,
  );
  console.log(
    `${'engine'.padEnd(9)}${'stack'.padEnd(12)}${'put'.padStart(12)}${'get'.padStart(12)}${'scan'.padStart(12)}`,
  );
  const keys = keysFor(N);
  const order = randomOrder(N, GETS);
  const ratios: string[] = [];
  for (const kind of ENGINES) {
    const rows: { name: string; row: Row }[] = [];
    try {
      if (kind === 'lmdb') {
        rows.push({ name: 'raw sync', row: await rawRow((d) => rawLmdbRow(d, keys, order, 'sync')) });
        rows.push({ name: 'raw async', row: await rawRow((d) => rawLmdbRow(d, keys, order, 'async')) });
      } else if (kind === 'rocksdb') {
        rows.push({ name: 'raw library', row: await rawRow((d) => rawRocksRow(d, keys, order)) });
      }
      for (const stack of STACKS) rows.push({ name: stack, row: await stackRow(kind, stack, keys, order) });
      const rates = await measureRows(
        rows.map((r) => r.row),
        keys.length,
        order.length,
      );
      rows.forEach((r, i) => {
        console.log(
          `${kind.padEnd(9)}${r.name.padEnd(12)}${fmt(rates[i].put)}${fmt(rates[i].get)}${fmt(rates[i].scan)}`,
        );
      });
      // the base: the raw library (for lmdb the better of its two paths, phase by phase), else the engine
      const raw = rates.filter((_, i) => rows[i].name.startsWith('raw'));
      const engine = rates[rows.findIndex((r) => r.name === 'engine')];
      const base: RawRates =
        raw.length === 0
          ? engine
          : {
              put: Math.max(...raw.map((r) => r.put)),
              get: Math.max(...raw.map((r) => r.get)),
              scan: Math.max(...raw.map((r) => r.scan)),
            };
      const baseName = raw.length === 0 ? `${kind} engine` : `raw ${kind}`;
      const full = rates[rows.findIndex((r) => r.name === 'full')];
      const put = full.put / base.put;
      const get = full.get / base.get;
      const targets =
        kind === 'lmdb'
          ? ` (targets put >= 0.80 ${put >= 0.8 ? 'OK' : 'MISS'}, get >= 0.70 ${get >= 0.7 ? 'OK' : 'MISS'})`
          : '';
      ratios.push(
        `${kind.padEnd(8)} full / ${baseName}: put ${ratio(full.put, base.put)}, get ${ratio(full.get, base.get)}, scan ${ratio(full.scan, base.scan)}${targets}`,
      );
    } finally {
      for (const r of rows) await r.row.close();
    }
  }
  for (const line of ratios) console.log(line);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

await main();
