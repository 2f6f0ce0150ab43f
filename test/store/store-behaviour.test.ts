// Focused tests of the stack: coalescing, errors with no partial write, TTL, the changelog marker
// with commit and restore, serde key order, options, and persistence across reopen on LMDB.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryChangelogSink, openStore, serdes } from '../../src/store/index.js';
import type { Store } from '../../src/store/open-store.js';
import type { StorageEngine, WriteOp } from '../../src/store/types.js';
import { isEddyError } from '../../src/util/errors.js';
import { prng } from '../helpers/prng.js';
import { makeTempDir } from '../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isEddyError(e) && e.code === c;

async function memoryStore(extra: Record<string, unknown> = {}) {
  const sink = new MemoryChangelogSink();
  const store = (await openStore({
    engine: 'memory',
    key: serdes.string,
    value: serdes.json<unknown>(),
    changelog: sink,
    cacheSize: 100,
    writeBatchSize: 10,
    ...extra,
  })) as Store<string, unknown>;
  const engine = (store as unknown as { stack: { engineStore: { engine: StorageEngine } } }).stack.engineStore
    .engine;
  let engineWrites = 0;
  const write = engine.write.bind(engine);
  engine.write = (ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array) => {
    if (ops.length > 0) engineWrites++;
    write(ops, meta);
  };
  return { store, sink, engine, writes: () => engineWrites };
}

describe('the cache coalesces writes', () => {
  it('100 puts to one key between two flushes are one engine write and one changelog record', async () => {
    const { store, sink, writes } = await memoryStore();
    for (let i = 0; i < 100; i++) store.put('k', i);
    assert.equal(store.get('k'), 99);
    assert.equal(writes(), 0);
    await store.flush();
    assert.equal(writes(), 1);
    assert.equal(sink.records.length, 1);
    assert.equal(Buffer.from(sink.records[0].value as Uint8Array).toString(), '99');
    assert.equal(store.metrics().cacheHits, 1);
    await store.close();
  });

  it('reaching writeBatchSize dirty entries hands them down as one batch', async () => {
    const { store, writes } = await memoryStore();
    for (let i = 0; i < 10; i++) store.put(`k${i}`, i);
    assert.equal(writes(), 1);
    await store.close();
  });
});

describe('the cache admits reads', () => {
  it('caches every read while reads hit, and only some misses while they are spread over far more keys', async () => {
    const { store } = await memoryStore();
    for (let i = 0; i < 10_000; i++) store.put(`k${i}`, i);
    await store.flush();
    // 100 keys, each read 100 times: the cache (100 entries) serves them
    const before = store.metrics();
    for (let r = 0; r < 100; r++) for (let i = 0; i < 100; i++) store.get(`k${i}`);
    const hot = store.metrics();
    assert.ok(hot.cacheHits - before.cacheHits >= 9_000, `hits ${hot.cacheHits - before.cacheHits}`);
    // reads spread over 10,000 keys: after a window that hit less than 1 in 8, most misses skip the cache
    const random = prng(1);
    for (let i = 0; i < 20_000; i++) {
      const x = Math.floor(random() * 10_000);
      assert.equal(store.get(`k${x}`), x);
    }
    const cold = store.metrics();
    const misses = cold.cacheMisses - hot.cacheMisses;
    const evictions = cold.cacheEvictions - hot.cacheEvictions;
    assert.ok(misses > 19_000, `misses ${misses}`);
    assert.ok(evictions < misses / 2, `evictions ${evictions} of ${misses} misses`);
    // a key read often gets back in and hits again
    for (let r = 0; r < 64; r++) store.get('k1');
    assert.ok(store.metrics().cacheHits - cold.cacheHits >= 50);
    await store.close();
  });
});

describe('errors leave nothing written', () => {
  it('every error carries its code and a failed batch writes nothing', async () => {
    const { store, sink } = await memoryStore({ maxRecordBytes: 50 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    assert.throws(() => store.put(null as unknown as string, 1), code('EDDY_INVALID_KEY'));
    assert.throws(() => store.put('a', undefined), code('EDDY_INVALID_VALUE'));
    assert.throws(
      () => store.put('a', circular),
      (e) =>
        code('EDDY_SERDE')(e) &&
        /"a"/.test((e as Error).message) &&
        /memory|store/.test((e as Error).message),
    );
    assert.throws(() => store.put('a', 'x'.repeat(60)), code('EDDY_RECORD_TOO_LARGE'));
    assert.throws(
      () =>
        store.putAll([
          ['ok', 1],
          ['big', 'x'.repeat(60)],
        ]),
      code('EDDY_RECORD_TOO_LARGE'),
    );
    assert.throws(
      () =>
        store.putAll([
          ['ok', 1],
          ['bad', circular],
        ]),
      code('EDDY_SERDE'),
    );
    await store.flush();
    assert.deepEqual([...store.all()], []);
    assert.equal(sink.records.length, 0);
    const iter = store.all();
    iter.close();
    assert.throws(() => iter.next(), code('EDDY_ITERATOR_CLOSED'));
    await store.close();
    assert.throws(() => store.get('a'), code('EDDY_STORE_CLOSED'));
  });

  for (const changelog of [false, true]) {
    it(`a key lmdb refuses fails its own put through the cache too, and nothing of it is written (${changelog ? 'with' : 'without'} a changelog)`, async (t) => {
      const { dir, remove } = makeTempDir('eddy-store-lmdb-key-');
      t.after(remove);
      const sink = new MemoryChangelogSink();
      const options = {
        dir,
        engine: 'lmdb' as const,
        key: serdes.string,
        value: serdes.string,
        cacheSize: 1000,
        ...(changelog ? { changelog: sink } : {}),
      };
      const store = await openStore(options);
      store.put('a', '1');
      const long = 'k'.repeat(3000);
      assert.throws(() => store.put('', 'x'), code('EDDY_INVALID_KEY'));
      assert.throws(
        () => store.put(long, 'x'),
        (e) => code('EDDY_INVALID_KEY')(e) && /3000 bytes/.test(String(e)),
      );
      assert.throws(() => store.delete(long), code('EDDY_INVALID_KEY'));
      assert.throws(
        () =>
          store.putAll([
            ['b', '2'],
            [long, 'x'],
          ]),
        code('EDDY_INVALID_KEY'),
      );
      assert.equal(store.get('b'), undefined, 'a refused batch writes nothing');
      await store.flush(); // the flush, where the engine would have refused it before
      await store.close();
      if (changelog)
        assert.deepEqual(
          sink.records.map((r) => Buffer.from(r.key).toString()),
          ['a'],
        );
      const again = await openStore(options);
      t.after(() => again.close());
      assert.deepEqual(
        [...again.all()].map(({ key, value }) => [key, value]),
        [['a', '1']],
      );
    });
  }

  it('a value that does not decode is EDDY_SERDE naming the key', async () => {
    const bad = {
      encode: (v: string) => Buffer.from(v),
      decode: (): string => {
        throw new Error('nope');
      },
    };
    const store = await openStore({ name: 'odd', engine: 'memory', key: serdes.string, value: bad });
    store.put('k', 'v');
    assert.throws(
      () => store.get('k'),
      (e) => code('EDDY_SERDE')(e) && /"odd"/.test((e as Error).message) && /"k"/.test((e as Error).message),
    );
    await store.close();
  });
});

describe('TTL', () => {
  it('an expired entry reads as absent and its tombstone reaches the changelog', async () => {
    let now = 1_000;
    const { store, sink } = await memoryStore({ ttlMs: 100, now: () => now });
    store.put('a', 1);
    store.put('b', 2);
    await store.flush();
    now += 50;
    assert.equal(store.get('a'), 1);
    now += 100;
    assert.equal(store.get('a'), undefined);
    assert.deepEqual([...store.all()], []);
    await store.flush();
    const tombstones = sink.records.filter((r) => r.value === null).map((r) => Buffer.from(r.key).toString());
    assert.deepEqual(tombstones.sort(), ['a', 'b']);
    assert.equal(store.metrics().ttlExpired, 2);
    await store.close();
  });

  it('the flush sweep expires entries nobody reads', async () => {
    let now = 0;
    const { store, sink } = await memoryStore({ ttlMs: 10, now: () => now });
    for (let i = 0; i < 30; i++) store.put(`k${i}`, i);
    await store.flush();
    now = 100;
    await store.flush();
    assert.equal(sink.records.filter((r) => r.value === null).length, 30);
    assert.equal(store.metrics().ttlSwept, 30);
    await store.close();
  });
});

describe('the changelog marker, commit and restore', () => {
  it('an uncommitted engine write marks the store not clean; commit makes it clean at the last offset', async () => {
    const { store, sink } = await memoryStore();
    assert.equal(store.changelogPosition(), undefined);
    store.put('a', 1);
    await store.flush();
    assert.deepEqual(store.changelogPosition(), { offset: -1, clean: false });
    assert.equal(await store.commit(), 0);
    assert.deepEqual(store.changelogPosition(), { offset: 0, clean: true });
    store.put('b', 2);
    store.put('c', 3);
    assert.deepEqual(store.changelogPosition(), { offset: 0, clean: true }, 'still in the cache');
    await store.flush();
    assert.deepEqual(store.changelogPosition(), { offset: 0, clean: false });
    assert.equal(await store.commit(), 2);
    assert.equal(sink.records.length, 3);
    await store.close();
  });

  it('the marker is written in the same engine transaction as the data', async () => {
    const { store, engine } = await memoryStore();
    const metas: (string | undefined)[] = [];
    const write = engine.write.bind(engine);
    engine.write = (ops: readonly WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array) => {
      metas.push(meta === undefined ? undefined : `${ops.length}:${Buffer.from(meta).toString()}`);
      write(ops, meta);
    };
    store.put('a', 1);
    await store.commit();
    store.put('b', 1);
    await store.flush();
    assert.deepEqual(metas, [
      '1:{"offset":-1,"clean":false}',
      '0:{"offset":0,"clean":true}',
      '1:{"offset":0,"clean":false}',
    ]);
    await store.close();
  });

  it('restore rebuilds the state from changelog records, bypassing cache and changelog', async () => {
    const source = await memoryStore();
    source.store.put('a', 1);
    source.store.put('b', 2);
    await source.store.commit();
    source.store.delete('a');
    await source.store.commit();
    const target = await memoryStore();
    target.store.get('a');
    target.store.restore(source.sink.restoreRecords());
    assert.deepEqual(
      [...target.store.all()].map((e) => [e.key, e.value]),
      [['b', 2]],
    );
    assert.equal(target.store.get('a'), undefined);
    assert.deepEqual(target.store.changelogPosition(), { offset: 2, clean: true });
    assert.equal(target.sink.records.length, 0);
    assert.equal(target.store.metrics().restoreRecords, 3);
    target.store.put('z', 1);
    await target.store.flush();
    assert.throws(() => target.store.restore([]), code('EDDY_INVALID_ARGUMENT'));
    await target.store.wipe();
    assert.equal(target.store.changelogPosition(), undefined);
    assert.deepEqual([...target.store.all()], []);
    await source.store.close();
    await target.store.close();
  });
});

describe('serdes', () => {
  it('int64, string and bytes keys sort in their natural order', () => {
    const nums = [-(2n ** 63n), -5n, -1n, 0n, 1n, 255n, 256n, 2n ** 63n - 1n];
    const encoded = [...nums].reverse().map((n) => Buffer.from(serdes.int64.encode(n)));
    encoded.sort(Buffer.compare);
    assert.deepEqual(
      encoded.map((b) => serdes.int64.decode(b)),
      nums,
    );
    assert.equal(serdes.int64Number.decode(serdes.int64Number.encode(-42)), -42);
    const words = ['b', 'a', 'ab', 'é', 'z'];
    const byBytes = words.map((w) => Buffer.from(serdes.string.encode(w))).sort(Buffer.compare);
    assert.deepEqual(
      byBytes.map((b) => serdes.string.decode(b)),
      ['a', 'ab', 'b', 'z', 'é'],
    );
    assert.deepEqual(serdes.msgpack.decode(serdes.msgpack.encode({ a: [1, 'x'] })), { a: [1, 'x'] });
    assert.deepEqual(serdes.json<{ a: number }>().decode(serdes.json().encode({ a: 1 })), { a: 1 });
    assert.throws(() => serdes.int64.encode(1.5 as unknown as bigint));
  });

  it('a range over int64 keys is numeric', async () => {
    const store = await openStore({ engine: 'memory', key: serdes.int64, value: serdes.string });
    for (const n of [-10n, -1n, 0n, 3n, 100n]) store.put(n, String(n));
    assert.deepEqual(
      [...store.range(-5n, 50n)].map((e) => e.key),
      [-1n, 0n, 3n],
    );
    await store.close();
  });
});

describe('options', () => {
  it('one ConfigError lists every bad option', async () => {
    await assert.rejects(
      openStore({
        engine: 'lmdb',
        key: serdes.string,
        value: 'json' as never,
        cacheSize: 10,
        writeBatchSize: 20,
        ttlMs: 0,
        bogus: 1,
      } as never),
      (e) => {
        const problems = (e as { problems: string[] }).problems;
        return (
          code('EDDY_INVALID_CONFIG')(e) &&
          ['dir', 'value', 'writeBatchSize', 'ttlMs', 'bogus'].every((k) =>
            problems.some((p) => p.startsWith(k)),
          )
        );
      },
    );
  });
});

describe('persistence on lmdb', () => {
  it('data and the clean marker survive close and reopen; a write no commit covered never reaches the engine', async () => {
    const { dir, remove } = makeTempDir('eddy-store-lmdb-');
    try {
      const sink = new MemoryChangelogSink();
      const first = await openStore({
        dir,
        engine: 'lmdb',
        key: serdes.string,
        value: serdes.json(),
        changelog: sink,
      });
      first.put('a', { n: 1 });
      first.put('b', { n: 2 });
      await first.close();
      const second = await openStore({
        dir,
        engine: 'lmdb',
        key: serdes.string,
        value: serdes.json(),
        changelog: sink,
      });
      assert.deepEqual(second.get('a'), { n: 1 });
      assert.deepEqual(second.changelogPosition(), { offset: 1, clean: true });
      second.put('c', { n: 3 });
      await second.flush();
      await (second as unknown as { stack: { top: { close(): Promise<void> } } }).stack.top.close();
      const third = await openStore({
        dir,
        engine: 'lmdb',
        key: serdes.string,
        value: serdes.json(),
        changelog: sink,
      });
      // closed without a commit (as by a crash): the engine still holds exactly offset 1, clean, and
      // 'c' (changelog offset 2) is only in the changelog, for a restore to replay
      assert.deepEqual(third.changelogPosition(), { offset: 1, clean: true });
      assert.equal(third.get('c'), undefined);
      assert.equal(sink.records.length, 3);
      await third.close();
    } finally {
      remove();
    }
  });
});
