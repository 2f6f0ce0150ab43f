/**
 * `StoreQueries` over real stores (the memory engine): keys through the key serde and its
 * encodings, the job's partitioner, ranges merged over partitions in key order with a limit,
 * restoring state, and the errors (unknown store, a key the serde refuses, a partition not open,
 * shutdown).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { defineJob, serdes } from '../../../src/index.js';
import { type StoreOpenEvent, StoreQueries } from '../../../src/runtime/control/store-queries.js';
import { openStore, type Store } from '../../../src/store/open-store.js';
import { partitionForKey } from '../../../src/util/murmur2.js';

const job = defineJob({
  name: 'q',
  inputs: ['in'],
  stores: {
    byId: { key: serdes.int64, value: serdes.json<{ n: number }>() },
    blobs: { key: serdes.string, value: serdes.bytes },
  },
  task: () => ({ process() {} }),
});

async function setUp(t: { after(fn: () => Promise<void>): void }, partitions = 3) {
  const q = new StoreQueries(job);
  const stores: { byId: Store<bigint, { n: number }>; blobs: Store<string, Uint8Array> }[] = [];
  for (let p = 0; p < partitions; p++) {
    const byId = await openStore({
      name: `byId/${p}`,
      engine: 'memory',
      key: serdes.int64,
      value: serdes.json<{ n: number }>(),
    });
    const blobs = await openStore({
      name: `blobs/${p}`,
      engine: 'memory',
      key: serdes.string,
      value: serdes.bytes,
    });
    stores.push({ byId, blobs });
    q.add({
      name: 'byId',
      partition: p,
      store: byId as unknown as StoreOpenEvent['store'],
      restoring: false,
    });
    q.add({
      name: 'blobs',
      partition: p,
      store: blobs as unknown as StoreOpenEvent['store'],
      restoring: false,
    });
  }
  t.after(async () => {
    for (const s of stores) {
      await s.byId.close();
      await s.blobs.close();
    }
  });
  // the container announces its task count with a `partitions` event
  const container = new EventEmitter();
  q.attach(container);
  container.emit('partitions', partitions);
  return { q, stores };
}

describe('StoreQueries', () => {
  it('looks a key up in the partition the partitioner picks, through the key serde', async (t) => {
    const { q, stores } = await setUp(t);
    const key = serdes.int64.encode(42n);
    const p = partitionForKey(key, 3);
    stores[p].byId.put(42n, { n: 1 });
    const a = q.get('byId', '42', { keyEncoding: 'json' });
    assert.equal(a.partition, p);
    assert.deepEqual(q.decode('byId', 'value', a.value as Uint8Array).json, { n: 1 });
    assert.equal(a.restoring, false);
    // hex of the serialized key reaches the same entry
    assert.ok(q.get('byId', Buffer.from(key).toString('hex'), { keyEncoding: 'hex' }).value);
    // another partition does not hold it
    assert.equal(q.get('byId', '42', { keyEncoding: 'json', partition: (p + 1) % 3 }).value, undefined);
  });

  it('refuses a key its serde cannot take, naming the serde', async (t) => {
    const { q } = await setUp(t);
    assert.throws(() => q.get('byId', '42'), {
      code: 'EDDY_SERDE',
      message: /key serde \(int64\).*keyEncoding=json/,
    });
    assert.throws(() => q.get('byId', '0102', { keyEncoding: 'hex' }), {
      code: 'EDDY_SERDE',
      message: /cannot be decoded by store "byId"'s key serde \(int64\)/,
    });
    assert.throws(() => q.get('byId', '{', { keyEncoding: 'json' }), {
      code: 'EDDY_SERDE',
      message: /not JSON/,
    });
    assert.throws(() => q.get('nope', 'a'), {
      code: 'EDDY_UNKNOWN_STORE',
      message: /its stores: byId, blobs/,
    });
    assert.throws(() => q.get('blobs', 'a', { partition: 7 }), {
      code: 'EDDY_INVALID_ARGUMENT',
      message: /partitions 0\.\.2/,
    });
  });

  it('merges ranges and prefixes over the partitions in key order, with a limit', async (t) => {
    const { q, stores } = await setUp(t);
    const names = ['apple', 'apricot', 'banana', 'blueberry', 'cherry', 'date', 'avocado'];
    for (const name of names) {
      stores[partitionForKey(Buffer.from(name), 3)].blobs.put(name, Buffer.from(name.toUpperCase()));
    }
    const all = q.range('blobs');
    assert.deepEqual(
      all.entries.map((e) => Buffer.from(e.key).toString()),
      [...names].sort(),
    );
    assert.equal(all.more, false);
    const some = q.range('blobs', { from: 'apricot', to: 'cherry', limit: 2 });
    assert.deepEqual(
      some.entries.map((e) => Buffer.from(e.key).toString()),
      ['apricot', 'avocado'],
    );
    assert.equal(some.more, true);
    const ap = q.prefix('blobs', 'ap');
    assert.deepEqual(
      ap.entries.map((e) => [Buffer.from(e.key).toString(), e.partition]),
      [
        ['apple', partitionForKey(Buffer.from('apple'), 3)],
        ['apricot', partitionForKey(Buffer.from('apricot'), 3)],
      ],
    );
    // bytes values come out as base64
    assert.deepEqual(q.decode('blobs', 'value', ap.entries[0].value), {
      json: Buffer.from('APPLE').toString('base64'),
      binary: true,
    });
    assert.throws(() => q.range('blobs', { limit: 10_001 }), { code: 'EDDY_INVALID_ARGUMENT' });
    assert.deepEqual(q.range('blobs', { from: 'z', to: 'a' }).entries, []);
  });

  it('says a partition restores, and stops answering after shutdown', async (t) => {
    const { q, stores } = await setUp(t, 1);
    const container = new EventEmitter();
    q.attach(container);
    const store = stores[0].blobs as unknown as StoreOpenEvent['store'];
    container.emit('store-open', { name: 'blobs', partition: 0, store, restoring: true });
    const progress = { store: 'blobs', partition: 0, bytes: 0, mode: 'rebuilt', relogged: 0 };
    container.emit('restore', { ...progress, restored: 10, total: 40, done: false });
    const during = q.get('blobs', 'x');
    assert.deepEqual([during.restoring, during.restored, during.total], [true, 10, 40]);
    container.emit('restore', { ...progress, restored: 40, total: 40, done: true });
    assert.equal(q.get('blobs', 'x').restoring, false);
    container.emit('store-close', { name: 'blobs', partition: 0 });
    assert.throws(() => q.get('blobs', 'x'), {
      code: 'EDDY_UNAVAILABLE',
      message: /not open in this process/,
    });
    q.shutdown();
    assert.throws(() => q.get('byId', '1', { keyEncoding: 'json' }), {
      code: 'EDDY_UNAVAILABLE',
      message: /shutting down/,
    });
  });

  it('turns bigints and nested bytes into JSON-safe values', async () => {
    const { jsonSafe } = await import('../../../src/runtime/control/store-queries.js');
    assert.deepEqual(jsonSafe({ id: 12345678901234567890n, raw: new Uint8Array([1, 2]) }), {
      json: { id: '12345678901234567890', raw: 'AQI=' },
      binary: true,
    });
    assert.deepEqual(jsonSafe([1, 'a', null]), { json: [1, 'a', null], binary: false });
  });
});
