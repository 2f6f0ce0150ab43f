// The cache's per-entry overheads (CACHE_ENTRY_OVERHEAD, CACHE_VALUE_OVERHEAD) against what entries
// really cost the heap, measured in a child process with --expose-gc: what the cache counts must
// stay within a quarter of the real cost, for negative entries (a read miss) and for full ones.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./fixtures/cache-overhead.ts', import.meta.url));

describe('the cache counts what its entries cost', () => {
  for (const mode of ['read', 'write']) {
    it(`${mode === 'read' ? 'negative entries (read misses)' : 'entries with values (writes)'}: counted within 25% of the heap they take`, () => {
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, mode], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      const { real, counted } = JSON.parse(out) as { real: number; counted: number };
      assert.ok(
        Math.abs(counted - real) <= real / 4,
        `counted ${counted.toFixed(1)} B per entry, real ${real.toFixed(1)}`,
      );
    });
  }
});
