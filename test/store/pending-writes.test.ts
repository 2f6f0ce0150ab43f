// PendingWrites against a model (a Map of each key's latest op), with enough keys that some of their
// 32-bit hashes collide: lookups find the latest op of the key itself, and take() hands over ops in
// order and forgets what it took. Seed printed; EDDY_PENDING_SEED replays one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PendingWrites } from '../../src/store/pending-writes.js';
import { hashBytes } from '../../src/util/bytes.js';
import { prng } from '../helpers/prng.js';

describe('PendingWrites', () => {
  it('agrees with a model of latest ops over 100,000 keys and 20 pairs whose hashes collide, across takes', (t) => {
    const seed = Number(process.env.EDDY_PENDING_SEED ?? Date.now() % 100_000);
    t.diagnostic(`seed ${seed}`);
    const random = prng(seed);
    // keys whose hashes collide (found by brute force over random keys), then plain ones
    const universe: Buffer[] = [];
    const seen = new Map<number, Buffer>();
    for (let i = 0; universe.length < 40 && i < 2_000_000; i++) {
      const k = Buffer.from(`c-${Math.floor(random() * 2 ** 40)}`);
      const h = hashBytes(k, 0, k.length);
      const other = seen.get(h);
      if (other !== undefined && !other.equals(k)) universe.push(other, k);
      else seen.set(h, k);
    }
    const collisions = universe.length / 2;
    for (let i = 0; i < 100_000; i++) universe.push(Buffer.from(`key-${i}`));
    const keys = universe.length;
    const key = (i: number) => universe[i];
    const pending = new PendingWrites();
    const model = new Map<number, { value: string | null; seq: number }>();
    let next = 0;
    let base = 0;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 50_000; i++) {
        // half the ops on colliding keys, so their chains are long and interleaved
        const k = random() < 0.5 ? Math.floor(random() * 2 * collisions) : Math.floor(random() * keys);
        const value = random() < 0.2 ? null : `v${next}`;
        pending.add(key(k), value === null ? null : Buffer.from(value));
        model.set(k, { value, seq: next++ });
      }
      for (let i = 0; i < 20_000; i++) {
        const k = random() < 0.5 ? Math.floor(random() * 2 * collisions) : Math.floor(random() * keys);
        const got = pending.lookup(key(k));
        const want = model.get(k);
        assert.deepEqual(
          got === undefined || got === null ? got : Buffer.from(got).toString(),
          want === undefined ? undefined : want.value,
          `seed ${seed}: key ${k}`,
        );
      }
      const upTo = base + Math.floor(random() * (next - base + 1));
      const taken = pending.take(upTo);
      assert.equal(taken.length, upTo - base);
      base = upTo;
      for (const [k, e] of model) if (e.seq < upTo) model.delete(k);
      assert.equal(pending.end, next);
    }
    t.diagnostic(`${collisions} hash collisions among the keys`);
    assert.ok(collisions > 0, 'the test needs colliding hashes to exercise the chains');
  });
});
