import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { murmur2, partitionForKey } from '../../src/util/murmur2.js';

// Vectors from Kafka's own test of Utils.murmur2 (clients/src/test/.../UtilsTest.java).
const KAFKA_VECTORS: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

describe('murmur2', () => {
  for (const [input, expected] of KAFKA_VECTORS) {
    it(`hashes ${JSON.stringify(input)} as Kafka does`, () => {
      assert.equal(murmur2(Buffer.from(input)), expected);
    });
  }

  it('routes keys to a partition in range, with the sign bit cleared rather than Math.abs', () => {
    // 'lkjh…' hashes negative: toPositive keeps the low 31 bits.
    const key = Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8');
    assert.equal(partitionForKey(key, 7), (-58897971 & 0x7fffffff) % 7);
    for (let i = 0; i < 1000; i++) {
      const p = partitionForKey(Buffer.from(`key-${i}`), 12);
      assert.ok(p >= 0 && p < 12);
    }
  });
});
