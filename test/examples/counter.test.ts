import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import job, { type TopCounts, topCounts } from '../../examples/counter/job.js';
import { TestDriver } from '../../src/runtime/test-driver/index.js';

async function driverFor(t: { after(fn: () => Promise<void>): void }, partitions = 1): Promise<TestDriver> {
  const driver = await TestDriver.create(job, { partitions });
  t.after(() => driver.close());
  return driver;
}

function click(driver: TestDriver, key: string, times = 1): void {
  for (let i = 0; i < times; i++) driver.send('clicks', { key, value: { at: i } });
}

describe('counter example', () => {
  it('counts events per key in the store', async (t) => {
    const driver = await driverFor(t);
    click(driver, '/home', 3);
    click(driver, '/cart', 1);
    assert.equal(driver.store('counts').get('/home'), 3);
    assert.equal(driver.store('counts').get('/cart'), 1);
    assert.equal(driver.metrics().counters.counted, 4);
  });

  it('sends the top counts at each window, and nothing for a window without events', async (t) => {
    const driver = await driverFor(t);
    click(driver, 'a', 2);
    click(driver, 'b', 7);
    click(driver, 'c', 7);
    click(driver, 'd', 1);
    click(driver, 'e', 3);
    click(driver, 'f', 4);
    driver.advanceTime(9_999);
    assert.deepEqual(driver.outputs('top-counts'), []);
    driver.advanceTime(1);
    assert.deepEqual(driver.outputs<string, TopCounts>('top-counts'), [
      {
        key: 'partition-0',
        value: {
          partition: 0,
          top: [
            { key: 'b', count: 7 },
            { key: 'c', count: 7 },
            { key: 'f', count: 4 },
            { key: 'e', count: 3 },
            { key: 'a', count: 2 },
          ],
        },
        partition: 0,
      },
    ]);
    driver.clearOutputs();
    driver.advanceTime(30_000);
    assert.deepEqual(driver.outputs('top-counts'), [], 'nothing changed');
    click(driver, 'd', 10);
    driver.advanceTime(10_000);
    assert.deepEqual(driver.outputs<string, TopCounts>('top-counts')[0].value?.top[0], {
      key: 'd',
      count: 11,
    });
  });

  it('reports per partition: each task its own keys', async (t) => {
    const driver = await driverFor(t, 3);
    const keys = Array.from({ length: 12 }, (_, i) => `page-${i}`);
    for (const [i, k] of keys.entries()) click(driver, k, i + 1);
    driver.advanceTime(10_000);
    const outs = driver.outputs<string, TopCounts>('top-counts');
    assert.equal(outs.length, 3);
    const seen = new Set<string>();
    for (const o of outs) {
      assert.equal(o.key, `partition-${o.value?.partition}`);
      for (const { key } of o.value?.top ?? []) {
        assert.ok(!seen.has(key));
        seen.add(key);
        assert.notEqual(driver.store('counts', o.value?.partition).get(key), undefined);
      }
    }
    const merged = topCounts(
      outs.flatMap((o) => o.value?.top ?? []),
      5,
    );
    assert.deepEqual(
      merged.map((e) => e.key),
      ['page-11', 'page-10', 'page-9', 'page-8', 'page-7'],
    );
  });

  it('skips events without a key (onError: skip) and counts them', async (t) => {
    const driver = await driverFor(t);
    driver.send('clicks', { key: null, value: { at: 1 } });
    driver.send('clicks', { key: '', value: { at: 2 } });
    click(driver, 'x');
    const m = driver.metrics();
    assert.equal(m.skipped, 2);
    assert.equal(m.processed, 1);
    assert.equal(driver.store('counts').get('x'), 1);
    assert.match(
      driver.logs[0].message,
      /skipped message clicks\/0@0: failed in process\(\): an event needs a key/,
    );
  });
});
