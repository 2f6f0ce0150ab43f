import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c, crc32cCombine } from '../../src/util/crc32c.js';

describe('crc32c', () => {
  it('gives the standard check value of "123456789"', () => {
    // the CRC-32C catalogue's check value (RFC 3720, iSCSI)
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  });

  it('combines two runs into the CRC of both end to end, at every split and length', () => {
    const seed = Number(process.env.EDDY_TEST_SEED ?? Date.now() % 1e9);
    const data = Buffer.alloc(70_000);
    for (let i = 0, x = seed | 1; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 255;
    }
    const lengths = [0, 1, 2, 3, 7, 8, 40, 255, 256, 4096, 65_535, 65_536, 69_999];
    for (const total of lengths) {
      for (const cut of new Set(
        [0, 1, Math.floor(total / 3), total - 1, total].filter((c) => c >= 0 && c <= total),
      )) {
        const a = data.subarray(0, cut);
        const b = data.subarray(cut, total);
        assert.equal(
          crc32cCombine(crc32c(a), crc32c(b), b.length),
          crc32c(data.subarray(0, total)),
          `split ${cut} of ${total} (seed ${seed})`,
        );
      }
    }
  });
});
