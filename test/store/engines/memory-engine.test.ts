import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryEngine } from '../../../src/store/engines/memory-engine.js';
import type { EngineCursor, WriteOp } from '../../../src/store/types.js';
import { engineSuite } from '../engine-suite.js';

engineSuite({
  name: 'memory',
  open: () => new MemoryEngine('test'),
  supports: { persistent: false, emptyKey: true },
});

const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(7, '0')}`);
const value = (i: number, size: number): Buffer => Buffer.alloc(size, i % 251);
const put = (k: Uint8Array, v: Uint8Array): WriteOp<Uint8Array, Uint8Array> => ({ key: k, value: v });

function count(cursor: EngineCursor): number {
  let n = 0;
  while (cursor.next() !== undefined) n++;
  cursor.close();
  return n;
}

describe('the memory engine reclaims space and keeps views stable', () => {
  it('overwrites and deletes mixed with records that stay: compaction keeps the arena near its live bytes', async () => {
    const engine = new MemoryEngine('t');
    // 120 rounds: 2,000 hot keys overwritten with another length, and 200 new cold keys written
    // between them that stay; every chunk keeps some live cold records, so without compaction the
    // ~27 MB of dead hot records would never be freed
    let cold = 0;
    for (let round = 0; round < 120; round++) {
      for (let i = 0; i < 2000; i++) {
        engine.write([put(key(i), value(round, 100 + (round % 2)))]);
        if (i % 10 === 0) engine.write([put(key(1_000_000 + cold++), value(cold, 100))]);
      }
    }
    const stats = engine.memoryStats();
    assert.ok(
      stats.arenaBytes <= 2 * stats.liveBytes + (1 << 20),
      `arena ${stats.arenaBytes} bytes for ${stats.liveBytes} live bytes`,
    );
    assert.equal(engine.size, 2000 + cold);
    for (let i = 0; i < 2000; i++) assert.deepEqual(engine.get(key(i)), value(119, 101));
    for (let c = 0; c < cold; c += 101) assert.deepEqual(engine.get(key(1_000_000 + c)), value(c + 1, 100));
    for (let i = 0; i < 2000; i++) engine.write([{ key: key(i), value: null }]);
    assert.equal(engine.size, cold);
    assert.equal(count(engine.range(undefined, undefined)), cold);
    await engine.close();
  });

  it('a snapshot opened before heavy overwrites and compaction still reads the old values', async () => {
    const engine = new MemoryEngine('t');
    for (let i = 0; i < 3000; i++) engine.write([put(key(i), value(1, 200))]);
    const snap = engine.snapshot(undefined, undefined);
    const first = snap.next();
    assert.deepEqual(first?.key, key(0));
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 3000; i++) engine.write([put(key(i), value(round + 2, 150 + round))]);
    }
    let seen = 1;
    for (let e = snap.next(); e !== undefined; e = snap.next()) {
      assert.deepEqual(e.value, value(1, 200), `entry ${seen} changed under the snapshot`);
      assert.deepEqual(e.key, key(seen));
      seen++;
    }
    assert.equal(seen, 3000);
    assert.deepEqual(engine.get(key(5)), value(31, 179));
    await engine.close();
  });

  it('same-length overwrites write in place only while no view is open', async () => {
    const engine = new MemoryEngine('t');
    engine.write([put(key(1), value(1, 50))]);
    const bytes = engine.memoryStats().liveBytes;
    engine.write([put(key(1), value(2, 50))]);
    assert.equal(engine.memoryStats().deadBytes, 0, 'in place: nothing dead');
    const view = engine.range(undefined, undefined);
    engine.write([put(key(1), value(3, 50))]);
    assert.equal(engine.memoryStats().deadBytes, bytes, 'a view is open: the old record stays');
    assert.deepEqual(view.next()?.value, value(2, 50));
    view.close();
    assert.deepEqual(engine.get(key(1)), value(3, 50));
    await engine.close();
  });

  it('ranges stay ordered across inserts, deletes and re-inserts between ordered reads', async () => {
    const engine = new MemoryEngine('t', { expectedKeys: 100 });
    const live = new Set<number>();
    for (let step = 0; step < 40; step++) {
      for (let i = 0; i < 500; i++) {
        const k = (step * 7919 + i * 104729) % 20000;
        if ((i + step) % 3 === 0) {
          engine.write([{ key: key(k), value: null }]);
          live.delete(k);
        } else {
          engine.write([put(key(k), value(k, 8))]);
          live.add(k);
        }
      }
      const expected = [...live].sort((a, b) => a - b);
      const from = 5000;
      const to = 15000;
      const inRange = expected.filter((k) => k >= from && k < to);
      const got: number[] = [];
      const cursor = engine.range(key(from), key(to));
      for (let e = cursor.next(); e !== undefined; e = cursor.next())
        got.push(Number(e.key.toString().slice(4)));
      assert.deepEqual(got, inRange, `step ${step}`);
      assert.equal(count(engine.range(undefined, undefined)), live.size);
    }
    await engine.close();
  });

  it('expectedKeys pre-sizes the index: no rehash while filling up to it', async () => {
    const engine = new MemoryEngine('t', { expectedKeys: 50_000 });
    const before = engine.memoryStats().indexBytes;
    for (let i = 0; i < 50_000; i++) engine.write([put(key(i), value(i, 4))]);
    const slotsBefore = before;
    const after = engine.memoryStats().indexBytes;
    assert.ok(after <= slotsBefore * 1.01, `index grew from ${slotsBefore} to ${after} bytes`);
    await engine.close();
  });
});
