// The cache in bytes: its own limit, a budget shared by several stores (the inserting cache evicts,
// dirty entries written down first, so the changelog and the engine have every write), coalescing
// under the budget, the job's shared budget, and the options that refuse impossible caches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineJob } from '../../src/runtime/job.js';
import { openJobStore } from '../../src/runtime/job-store.js';
import { CacheBudget } from '../../src/store/cache-budget.js';
import { CACHE_ENTRY_OVERHEAD, CACHE_VALUE_OVERHEAD } from '../../src/store/cached-store.js';
import { MemoryChangelogSink, openStore, serdes } from '../../src/store/index.js';
import type { Store } from '../../src/store/open-store.js';
import type { StorageEngine } from '../../src/store/types.js';
import { isEddyError } from '../../src/util/errors.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isEddyError(e) && e.code === c;

async function store(extra: Record<string, unknown>) {
  const sink = new MemoryChangelogSink();
  const s = (await openStore({
    engine: 'memory',
    key: serdes.string,
    value: serdes.string,
    changelog: sink,
    writeBatchSize: 1_000_000,
    ...extra,
  })) as Store<string, string>;
  const engine = (s as unknown as { stack: { engineStore: { engine: StorageEngine } } }).stack.engineStore
    .engine;
  return { store: s, sink, engine };
}

/** What an entry of `key` → `value` counts (the key and value as the string serde encodes them). */
const entryBytes = (key: string, value: string | null) =>
  Buffer.byteLength(key) +
  CACHE_ENTRY_OVERHEAD +
  (value === null ? 0 : Buffer.byteLength(value) + CACHE_VALUE_OVERHEAD);

describe('a cache sized in bytes', () => {
  it('never holds more than cacheBytes, counting key + value + overhead per entry', async () => {
    const { store: s } = await store({ cacheBytes: 20_000 });
    const random = prng(7);
    for (let i = 0; i < 5_000; i++) {
      const k = `k${Math.floor(random() * 2_000)}`;
      if (random() < 0.5) s.put(k, 'v'.repeat(Math.floor(random() * 200)));
      else s.get(k);
      assert.ok(s.metrics().cacheBytes <= 20_000, `op ${i}: ${s.metrics().cacheBytes} bytes`);
    }
    assert.ok(s.metrics().cacheBytes > 15_000, 'the cache is used up to its limit');
    assert.ok(s.metrics().cacheEvictions > 0);
    await s.close();
  });

  it('counts exactly what it holds', async () => {
    const { store: s } = await store({ cacheBytes: 1 << 20 });
    s.put('a', 'xyz');
    s.get('missing');
    s.put('bb', '');
    assert.equal(
      s.metrics().cacheBytes,
      entryBytes('a', 'xyz') + entryBytes('missing', null) + entryBytes('bb', ''),
    );
    s.put('a', 'longer value');
    s.delete('bb');
    assert.equal(
      s.metrics().cacheBytes,
      entryBytes('a', 'longer value') + entryBytes('missing', null) + entryBytes('bb', null),
    );
    await s.close();
  });

  it('with cacheSize too, keeps at most that many entries', async () => {
    const { store: s } = await store({ cacheBytes: 1 << 20, cacheSize: 10, writeBatchSize: 5 });
    for (let i = 0; i < 100; i++) s.put(`k${i}`, 'v');
    assert.equal(s.metrics().cacheSize, 10);
    await s.close();
  });
});

describe('a budget shared by several stores', () => {
  it('holds across the stores: the sum of their cache bytes never passes it', async () => {
    const budget = new CacheBudget(30_000);
    const stores = await Promise.all(
      [0, 1, 2].map(() => store({ cacheBytes: 1 << 20, cacheBudget: budget })),
    );
    const random = prng(11);
    for (let i = 0; i < 6_000; i++) {
      const { store: s } = stores[Math.floor(random() * 3)];
      const k = `k${Math.floor(random() * 1_000)}`;
      if (random() < 0.6) s.put(k, 'v'.repeat(10 + Math.floor(random() * 100)));
      else s.get(k);
      const sum = stores.reduce((n, x) => n + x.store.metrics().cacheBytes, 0);
      assert.ok(sum <= 30_000, `op ${i}: the stores hold ${sum} bytes`);
      assert.equal(budget.usedBytes, sum);
    }
    for (const x of stores) assert.ok(x.store.metrics().cacheBytes > 0, 'every store keeps some cache');
    for (const x of stores) await x.store.close();
    assert.equal(budget.usedBytes, 0, 'closed caches give their bytes back');
    assert.ok(budget.peakBytes <= 30_000);
  });

  it('the inserting store evicts, writing its dirty entries down first: the changelog and the engine have every write', async () => {
    const budget = new CacheBudget(10_000);
    const a = await store({ cacheBytes: 1 << 20, cacheBudget: budget });
    const b = await store({ cacheBytes: 1 << 20, cacheBudget: budget });
    for (let i = 0; i < 20; i++) a.store.put(`a${i}`, 'x'.repeat(50));
    const aBytes = a.store.metrics().cacheBytes;
    for (let i = 0; i < 500; i++) b.store.put(`b${i}`, `value ${i}`);
    assert.equal(a.store.metrics().cacheBytes, aBytes, 'the store that did not insert kept its entries');
    assert.ok(b.store.metrics().cacheEvictions > 0);
    // nothing flushed yet: every write is in the cache (dirty) or below it, in the engine and the changelog
    const dirty = b.store.metrics().cacheDirty;
    const logged = new Map(
      b.sink.records.map((r) => [
        Buffer.from(r.key).toString(),
        Buffer.from(r.value as Uint8Array).toString(),
      ]),
    );
    assert.equal(logged.size + dirty, 500, `${logged.size} logged + ${dirty} dirty`);
    for (const [k, v] of logged)
      assert.equal(Buffer.from(b.engine.get(Buffer.from(k)) as Uint8Array).toString(), v);
    await b.store.flush();
    for (let i = 0; i < 500; i++) {
      assert.equal(Buffer.from(b.engine.get(Buffer.from(`b${i}`)) as Uint8Array).toString(), `value ${i}`);
      assert.equal(b.store.get(`b${i}`), `value ${i}`);
    }
    const last = new Map(
      b.sink.records.map((r) => [
        Buffer.from(r.key).toString(),
        Buffer.from(r.value as Uint8Array).toString(),
      ]),
    );
    assert.equal(last.size, 500);
    await a.store.close();
    await b.store.close();
  });

  it('still coalesces: 100 puts to one key between two flushes are one changelog record', async () => {
    const budget = new CacheBudget(50_000);
    const other = await store({ cacheBytes: 1 << 20, cacheBudget: budget });
    for (let i = 0; i < 100; i++) other.store.put(`o${i}`, 'x'.repeat(100));
    const { store: s, sink } = await store({ cacheBytes: 1 << 20, cacheBudget: budget });
    for (let i = 0; i < 100; i++) s.put('k', String(i));
    await s.flush();
    assert.equal(sink.records.length, 1);
    assert.equal(Buffer.from(sink.records[0].value as Uint8Array).toString(), '99');
    await s.close();
    await other.store.close();
  });
});

describe('a job’s cacheBudgetBytes', () => {
  it('is one budget for every store partition of the job in the process', async (t) => {
    const dir = tempDir(t);
    const job = defineJob({
      name: 'budget',
      inputs: ['in'],
      stores: {
        s: {
          engine: 'memory',
          key: serdes.string,
          value: serdes.string,
          cacheBytes: 1 << 20,
          changelog: false,
        },
      },
      cacheBudgetBytes: 40_000,
      task: () => ({ process() {} }),
    });
    const stores = [
      await openJobStore<Store<string, string>>(job, dir, 's', 0, undefined),
      await openJobStore<Store<string, string>>(job, dir, 's', 1, undefined),
    ];
    for (let i = 0; i < 2_000; i++) stores[i % 2].put(`k${i}`, 'v'.repeat(40));
    const sum = stores[0].metrics().cacheBytes + stores[1].metrics().cacheBytes;
    assert.ok(sum <= 40_000 && sum > 30_000, `${sum} bytes in the job's caches`);
    for (const s of stores) await s.close();
  });

  it('is validated with the job', () => {
    assert.throws(
      () => defineJob({ name: 'j', inputs: ['in'], cacheBudgetBytes: -1, task: () => ({ process() {} }) }),
      (e) => code('EDDY_INVALID_CONFIG')(e) && /cacheBudgetBytes/.test((e as Error).message),
    );
  });
});

describe('cache options', () => {
  it('refuse a bad cacheBytes, a budget on a store without a cache, and a batch with no cache', async () => {
    await assert.rejects(
      openStore({ engine: 'memory', key: serdes.string, value: serdes.string, cacheBytes: -5 }),
      (e) => code('EDDY_INVALID_CONFIG')(e) && /cacheBytes/.test((e as Error).message),
    );
    await assert.rejects(
      openStore({
        engine: 'memory',
        key: serdes.string,
        value: serdes.string,
        cacheBudget: new CacheBudget(10),
      }),
      (e) =>
        code('EDDY_INVALID_CONFIG')(e) && /cacheBudget: this store has no cache/.test((e as Error).message),
    );
    await assert.rejects(
      openStore({
        engine: 'memory',
        key: serdes.string,
        value: serdes.string,
        cacheBytes: 0,
        writeBatchSize: 5,
      }),
      (e) =>
        code('EDDY_INVALID_CONFIG')(e) &&
        /writeBatchSize: has no effect with cacheBytes 0/.test((e as Error).message),
    );
    assert.throws(() => new CacheBudget(-1), code('EDDY_INVALID_ARGUMENT'));
  });
});
