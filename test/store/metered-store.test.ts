// The metrics layer: inserts and updates are counted exactly (with and without a cache, with a cache
// that thrashes, with TTL), and the sampled latency histograms fill.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryChangelogSink, openStore, serdes } from '../../src/store/index.js';
import { LATENCY_SAMPLE } from '../../src/store/metered-store.js';
import type { Store } from '../../src/store/open-store.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

async function open(extra: Record<string, unknown>): Promise<Store<string, number>> {
  return (await openStore({
    engine: 'memory',
    key: serdes.string,
    value: serdes.json<number>(),
    changelog: new MemoryChangelogSink(),
    ...extra,
  })) as Store<string, number>;
}

/** Random puts, gets, deletes and batches over `keys` keys, checked against a Map. */
async function checkAgainstModel(
  store: Store<string, number>,
  keys: number,
  seed: number,
  ops = 20_000,
): Promise<void> {
  const random = prng(seed);
  const model = new Map<string, number>();
  let inserts = 0;
  let updates = 0;
  for (let i = 0; i < ops; i++) {
    const key = `k${Math.floor(random() * keys)}`;
    const r = random();
    if (r < 0.35) {
      // read-modify-write, the usual task
      const v = store.get(key);
      assert.equal(v, model.get(key));
      store.put(key, (v ?? 0) + 1);
      if (model.has(key)) updates++;
      else inserts++;
      model.set(key, (v ?? 0) + 1);
    } else if (r < 0.6) {
      store.put(key, i); // a blind write
      if (model.has(key)) updates++;
      else inserts++;
      model.set(key, i);
    } else if (r < 0.75) {
      store.delete(key);
      model.delete(key);
    } else if (r < 0.8) {
      // a batch that writes one key twice: the second put is an update
      const other = `k${Math.floor(random() * keys)}`;
      store.putAll([
        [key, 1],
        [other, 2],
        [key, 3],
      ]);
      for (const [k, v] of [
        [key, 1],
        [other, 2],
        [key, 3],
      ] as const) {
        if (model.has(k)) updates++;
        else inserts++;
        model.set(k, v);
      }
    } else if (r < 0.82) {
      await store.flush();
    } else {
      assert.equal(store.get(key), model.get(key));
    }
  }
  const m = store.metrics();
  assert.equal(m.inserts, inserts, `seed ${seed}: inserts`);
  assert.equal(m.updates, updates, `seed ${seed}: updates`);
  assert.equal(m.inserts + m.updates, m.puts);
}

describe('inserts and updates are counted exactly', () => {
  it('with a cache that holds every key', async () => {
    const store = await open({ cacheSize: 1000, writeBatchSize: 100 });
    await checkAgainstModel(store, 500, 1);
    await store.close();
  });

  it('with a cache far smaller than the keys (evictions, read admission refusing misses)', async () => {
    const store = await open({ cacheSize: 64, writeBatchSize: 16 });
    await checkAgainstModel(store, 20_000, 2);
    assert.ok(store.metrics().cacheEvictions > 1000);
    await store.close();
  });

  it('a read miss the cache refused is forgotten once its key is written', async () => {
    const store = await open({ cacheSize: 64, writeBatchSize: 16 });
    for (let i = 0; i < 10_000; i++) store.put(`k${i}`, i);
    await store.flush();
    for (let i = 0; i < 8192; i++) store.get(`k${(i * 7919) % 10_000}`); // spread reads: admission refuses
    let key = '';
    for (let i = 0; key === ''; i++) {
      const before = store.metrics().cacheEvictions;
      store.get(`fresh${i}`);
      if (store.metrics().cacheEvictions === before) key = `fresh${i}`; // refused: not cached
    }
    store.put(key, 1); // an insert (the remembered miss says so)
    for (let i = 0; i < 200; i++) store.put(`k${i}`, -i); // evicts `key` (written down)
    const before = store.metrics();
    store.put(key, 2); // the key exists now: an update, whatever the stale miss said
    assert.equal(store.metrics().updates - before.updates, 1);
    assert.equal(store.metrics().inserts - before.inserts, 0);
    await store.close();
  });

  it('without a cache (the memory engine: its key count before and after each put tells)', async () => {
    const store = await open({ cacheSize: 0 });
    await checkAgainstModel(store, 300, 3);
    await store.close();
  });

  it('without a cache, on an engine that keeps no key count (lmdb: a lookup before each put tells)', async (t) => {
    const store = await open({ cacheSize: 0, engine: 'lmdb', dir: tempDir(t) });
    await checkAgainstModel(store, 100, 4, 1000); // each write is an fsync'd LMDB transaction
    await store.close();
  });

  it('with TTL: a put over an expired entry is an insert', async () => {
    let now = 1000;
    for (const cacheSize of [0, 100]) {
      const store = await open({ cacheSize, ttlMs: 100, now: () => now });
      store.put('a', 1);
      store.put('a', 2);
      await store.flush();
      now += 200;
      store.put('a', 3); // expired: absent to the user
      assert.deepEqual([store.metrics().inserts, store.metrics().updates], [2, 1], `cacheSize ${cacheSize}`);
      await store.close();
    }
  });
});

describe('latency histograms', () => {
  it('time one get and one put in LATENCY_SAMPLE, and every flush', async () => {
    const store = await open({ cacheSize: 100 });
    for (let i = 0; i < LATENCY_SAMPLE * 10; i++) {
      store.put(`k${i % 50}`, i);
      store.get(`k${i % 50}`);
    }
    await store.flush();
    await store.flush();
    const l = store.latency();
    assert.equal(l.get.count, 10);
    assert.equal(l.put.count, 10);
    assert.equal(l.flush.count, 2);
    assert.equal(
      l.get.counts.reduce((a, b) => a + b, 0),
      10,
    );
    assert.ok(l.flush.sum > 0);
    await store.close();
  });
});
