import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import job, { type CacheResponse, ENTRY_TTL_MS, FETCH_TIMEOUT_MS } from '../../examples/cache/job.js';
import { deadLetterTopic } from '../../src/runtime/job.js';
import { TestDriver } from '../../src/runtime/test-driver/index.js';

async function driverFor(t: { after(fn: () => Promise<void>): void }): Promise<TestDriver> {
  const driver = await TestDriver.create(job, { partitions: 2, now: 1_000_000 });
  t.after(() => driver.close());
  return driver;
}

const get = (driver: TestDriver, key: string, requestId: string) =>
  driver.send('cache-requests', { key, value: { op: 'get', key, requestId } });
const origin = (driver: TestDriver, key: string, value: unknown) =>
  driver.send('origin-responses', { key, value: { key, value } });
const responses = (driver: TestDriver) =>
  driver.outputs<string, CacheResponse>('cache-responses').map((o) => o.value as CacheResponse);
const fetches = (driver: TestDriver) => driver.outputs('origin-fetches').map((o) => o.key);

describe('cache example', () => {
  it('fetches a missed key once, answers every waiting request, then serves hits', async (t) => {
    const driver = await driverFor(t);
    get(driver, 'user:1', 'r1');
    get(driver, 'user:1', 'r2');
    assert.deepEqual(fetches(driver), ['user:1'], 'one fetch for two requests');
    assert.deepEqual(responses(driver), []);
    origin(driver, 'user:1', { name: 'Ann' });
    assert.deepEqual(responses(driver), [
      { requestId: 'r1', key: 'user:1', value: { name: 'Ann' }, hit: false },
      { requestId: 'r2', key: 'user:1', value: { name: 'Ann' }, hit: false },
    ]);
    get(driver, 'user:1', 'r3');
    assert.deepEqual(responses(driver)[2], {
      requestId: 'r3',
      key: 'user:1',
      value: { name: 'Ann' },
      hit: true,
    });
    assert.equal(fetches(driver).length, 1);
  });

  it('expires entries after the store ttl, and fetches again', async (t) => {
    const driver = await driverFor(t);
    get(driver, 'k', 'r1');
    origin(driver, 'k', 1);
    driver.advanceTime(ENTRY_TTL_MS - 1);
    get(driver, 'k', 'r2');
    assert.equal(responses(driver)[1].hit, true);
    driver.advanceTime(1);
    get(driver, 'k', 'r3');
    assert.equal(responses(driver).length, 2, 'r3 waits for the origin');
    assert.deepEqual(fetches(driver), ['k', 'k']);
    origin(driver, 'k', 2);
    assert.deepEqual(responses(driver)[2], { requestId: 'r3', key: 'k', value: 2, hit: false });
  });

  it('retries a fetch the origin never answered', async (t) => {
    const driver = await driverFor(t);
    get(driver, 'slow', 'r1');
    driver.advanceTime(FETCH_TIMEOUT_MS / 2);
    get(driver, 'slow', 'r2');
    assert.equal(fetches(driver).length, 1);
    driver.advanceTime(FETCH_TIMEOUT_MS);
    get(driver, 'slow', 'r3');
    assert.equal(fetches(driver).length, 2);
    origin(driver, 'slow', 'v');
    assert.deepEqual(
      responses(driver).map((r) => r.requestId),
      ['r3'],
      'requests parked before the timeout are dropped with it (callers retry)',
    );
  });

  it('invalidate drops the entry', async (t) => {
    const driver = await driverFor(t);
    get(driver, 'k', 'r1');
    origin(driver, 'k', 'old');
    driver.send('cache-requests', { key: 'k', value: { op: 'invalidate', key: 'k' } });
    const p = driver.outputs('cache-responses')[0].partition;
    assert.equal(driver.store('entries', p).get('k'), undefined);
    get(driver, 'k', 'r2');
    assert.equal(fetches(driver).length, 2);
  });

  it('dead-letters malformed requests', async (t) => {
    const driver = await driverFor(t);
    driver.send('cache-requests', { key: 'k', value: { op: 'put', key: 'k' } });
    driver.send('cache-requests', { key: 'k', value: { op: 'get', requestId: 'x' } });
    driver.send('cache-requests', { key: 'k', value: { op: 'get', key: 'k' } });
    const errors = driver
      .outputs(deadLetterTopic('cache'))
      .map((d) => d.headers?.['eddy.error']?.toString() ?? '');
    assert.equal(errors.length, 3);
    assert.match(errors[0], /unknown op "put"/);
    assert.match(errors[1], /needs a key/);
    assert.match(errors[2], /needs a requestId/);
  });
});
