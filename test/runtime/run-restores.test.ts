/** runRestores (restore.ts): the restores of a container's stores, run a few at a time. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runRestores } from '../../src/runtime/restore.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('runRestores', () => {
  test('runs the restores together, never more than the concurrency at once', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    const restores = Array.from({ length: 10 }, (_, i) => async () => {
      running++;
      most = Math.max(most, running);
      for (let k = 0; k < 3; k++) await tick();
      running--;
      done.push(i);
    });
    await runRestores(restores, 4);
    assert.equal(most, 4);
    assert.deepEqual(
      [...done].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  test('rejects with the first failure only once every started restore has settled, starting no more', async () => {
    const started: number[] = [];
    let settled = 0;
    const restores = Array.from({ length: 6 }, (_, i) => async () => {
      started.push(i);
      for (let k = 0; k < (i === 0 ? 1 : 5); k++) await tick();
      settled++;
      if (i === 0) throw new Error('restore 0 failed');
    });
    await assert.rejects(runRestores(restores, 2), /restore 0 failed/);
    // 0 failed while 1 ran: 1 finished, nothing after it was started
    assert.deepEqual(started, [0, 1]);
    assert.equal(settled, 2);
  });
});
