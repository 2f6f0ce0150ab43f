/**
 * Store benchmark: put, get and full-scan rates of every engine and every stack, next to the raw
 * libraries called directly (`bench/store-engines.ts`), in the same run.
 *
 * Workload (the same as the raw functions): N distinct 8-byte keys in a shuffled order, 100-byte
 * values. Puts: stacks without a cache write `putAll` batches of 10,000 (one engine transaction
 * each, like the raw loop); stacks with the cache do one `put` per key, as a task does, with
 * `writeBatchSize` 10,000 so the cache hands the engine the same 10k batches; the put time
 * includes the final `flush()`. Gets: `--gets` (default 200,000, at most N) uniformly random
 * existing keys of the N, one `get` each, best of three passes, the same sequence for every row (mostly cache misses: the
 * cache holds 20,000 of N). Scan: one `all()` over every entry. Serdes are `bytes` (the layers'
 * cost, not a codec's); the changelog sink counts and drops records (the log's cost is bench/log).
 *
 * Ratio lines: for lmdb and rocksdb the full stack over the raw library, for memory (no raw
 * library) the full stack over the bare engine. The raw lmdb put rate is the faster of its two
 * batched paths (printed on the lmdb note line).
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
  bestRate,
  keysFor,
  type RawRates,
  randomOrder,
  rawLmdbRates,
  rawRocksRates,
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

const rate = (ops: number, ms: number): number => Math.round((ops / ms) * 1000);

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

async function runStack(kind: string, stack: Stack, keys: Buffer[], order: Int32Array): Promise<RawRates> {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-store-'));
  const store = await openStack(kind, stack, dir);
  try {
    const value = Buffer.alloc(VALUE_SIZE, 0x61);
    const n = keys.length;
    const cached = stack === '+cache' || stack === 'full';
    let t0 = performance.now();
    if (cached) {
      for (let i = 0; i < n; i++) store.put(keys[i], value);
    } else {
      for (let start = 0; start < n; start += BATCH) {
        const end = Math.min(n, start + BATCH);
        const batch: [Uint8Array, Uint8Array][] = new Array(end - start);
        for (let i = start; i < end; i++) batch[i - start] = [keys[i], value];
        store.putAll(batch);
      }
    }
    await store.flush();
    const put = rate(n, performance.now() - t0);

    const get = bestRate(order.length, () => {
      let found = 0;
      for (let i = 0; i < order.length; i++) if (store.get(keys[order[i]]) !== undefined) found++;
      if (found !== order.length) throw new Error(`${kind} ${stack}: ${order.length - found} keys missing`);
    });

    let scanned = 0;
    t0 = performance.now();
    for (const _ of store.all()) scanned++;
    const scan = rate(scanned, performance.now() - t0);
    if (scanned !== n) throw new Error(`${kind} ${stack}: scanned ${scanned} of ${n}`);
    return { put, get, scan };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
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
  const notes: string[] = [];
  const ratios: string[] = [];
  for (const kind of ENGINES) {
    let base: { name: string; r: RawRates } | undefined;
    let full: RawRates | undefined;
    const print = (stack: string, r: RawRates) =>
      console.log(`${kind.padEnd(9)}${stack.padEnd(12)}${fmt(r.put)}${fmt(r.get)}${fmt(r.scan)}`);
    if (kind === 'lmdb' || kind === 'rocksdb') {
      const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-raw-'));
      try {
        if (kind === 'lmdb') {
          const r = await rawLmdbRates(dir, keys, order);
          notes.push(
            `raw lmdb put = the faster batched path (${r.putPath}): transactionSync+putSync ${r.putPaths.syncTxn.toLocaleString('en-US')}/s, async put+await committed ${r.putPaths.asyncBatch.toLocaleString('en-US')}/s (10k per transaction both)`,
          );
          base = { name: 'raw lmdb', r };
        } else {
          base = { name: 'raw rocksdb', r: await rawRocksRates(dir, keys, order) };
        }
        print('raw library', base.r);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    for (const stack of STACKS) {
      const r = await runStack(kind, stack, keys, order);
      print(stack, r);
      if (stack === 'engine' && base === undefined) base = { name: `${kind} engine`, r };
      if (stack === 'full') full = r;
    }
    if (base && full) {
      const put = full.put / base.r.put;
      const get = full.get / base.r.get;
      const targets =
        kind === 'lmdb'
          ? ` (targets put >= 0.80 ${put >= 0.8 ? 'OK' : 'MISS'}, get >= 0.70 ${get >= 0.7 ? 'OK' : 'MISS'})`
          : '';
      ratios.push(
        `${kind.padEnd(8)} full / ${base.name}: put ${ratio(full.put, base.r.put)}, get ${ratio(full.get, base.r.get)}, scan ${ratio(full.scan, base.r.scan)}${targets}`,
      );
    }
  }
  for (const line of notes) console.log(line);
  for (const line of ratios) console.log(line);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

await main();
