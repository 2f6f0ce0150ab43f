import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import job, { type ChangeEvent, type MirrorEntry, rowKey, tableRows } from '../../examples/data-sync/job.js';
import { deadLetterTopic } from '../../src/runtime/job.js';
import { TestDriver } from '../../src/runtime/test-driver/index.js';

async function driverFor(t: { after(fn: () => Promise<void>): void }): Promise<TestDriver> {
  // One partition, so a table's rows are all in one task and `tableRows` sees the whole table.
  const driver = await TestDriver.create(job);
  t.after(() => driver.close());
  return driver;
}

const change = (driver: TestDriver, e: ChangeEvent) =>
  driver.send('cdc-events', { key: rowKey(e.table, e.key), value: e });

describe('data-sync example', () => {
  it('mirrors upserts and deletes, and sends a compactable stream of rows and tombstones', async (t) => {
    const driver = await driverFor(t);
    change(driver, { op: 'r', table: 'users', key: '1', after: { id: 1, name: 'Ann' }, lsn: 10 });
    change(driver, { op: 'c', table: 'users', key: '2', after: { id: 2, name: 'Bob' }, lsn: 11 });
    change(driver, { op: 'u', table: 'users', key: '1', after: { id: 1, name: 'Anne' }, lsn: 12 });
    change(driver, { op: 'd', table: 'users', key: '2', lsn: 13 });
    change(driver, { op: 'c', table: 'orders', key: '1', after: { id: 1, total: 5 }, lsn: 14 });
    assert.deepEqual(driver.outputs('mirror-out'), [
      { key: 'users:1', value: { id: 1, name: 'Ann' }, partition: 0 },
      { key: 'users:2', value: { id: 2, name: 'Bob' }, partition: 0 },
      { key: 'users:1', value: { id: 1, name: 'Anne' }, partition: 0 },
      { key: 'users:2', value: null, partition: 0 },
      { key: 'orders:1', value: { id: 1, total: 5 }, partition: 0 },
    ]);
    assert.deepEqual(tableRows(driver.store('mirror'), 'users'), { '1': { id: 1, name: 'Anne' } });
    assert.deepEqual(tableRows(driver.store('mirror'), 'orders'), { '1': { id: 1, total: 5 } });
  });

  it('ignores replayed and late events by lsn, and does not resend unchanged rows', async (t) => {
    const driver = await driverFor(t);
    change(driver, { op: 'c', table: 't', key: 'k', after: { v: 1 }, lsn: 5 });
    change(driver, { op: 'u', table: 't', key: 'k', after: { v: 2 }, lsn: 7 });
    change(driver, { op: 'u', table: 't', key: 'k', after: { v: 1 }, lsn: 6 });
    change(driver, { op: 'c', table: 't', key: 'k', after: { v: 1 }, lsn: 5 });
    change(driver, { op: 'r', table: 't', key: 'k', after: { v: 2 }, lsn: 8 });
    assert.deepEqual(
      driver.outputs('mirror-out').map((o) => o.value),
      [{ v: 1 }, { v: 2 }],
    );
    assert.equal(driver.metrics().counters.stale, 2);
    assert.deepEqual(driver.store<string, MirrorEntry>('mirror').get('t:k'), { row: { v: 2 }, lsn: 8 });
  });

  it('a late update cannot resurrect a deleted row', async (t) => {
    const driver = await driverFor(t);
    change(driver, { op: 'c', table: 't', key: 'k', after: { v: 1 }, lsn: 1 });
    change(driver, { op: 'd', table: 't', key: 'k', lsn: 3 });
    change(driver, { op: 'u', table: 't', key: 'k', after: { v: 2 }, lsn: 2 });
    assert.deepEqual(tableRows(driver.store('mirror'), 't'), {});
    change(driver, { op: 'c', table: 't', key: 'k', after: { v: 3 }, lsn: 4 });
    assert.deepEqual(driver.outputs('mirror-out').at(-1)?.value, { v: 3 });
  });

  it('dead-letters bad events', async (t) => {
    const driver = await driverFor(t);
    const bad: [string, unknown][] = [
      ['t:1', { op: 'x', table: 't', key: '1', lsn: 1 }],
      ['t:1', { op: 'c', table: 't', key: '1', lsn: 1 }],
      ['t:1', { op: 'c', table: 't', key: '1', after: {} }],
      ['t:2', { op: 'd', table: 't', key: '1', lsn: 1 }],
    ];
    for (const [key, value] of bad) driver.send('cdc-events', { key, value });
    const errors = driver
      .outputs(deadLetterTopic('data-sync'))
      .map((d) => d.headers?.['eddy.error']?.toString() ?? '');
    assert.equal(errors.length, 4);
    for (const [i, re] of [/unknown op "x"/, /needs the row after/, /integer lsn/, /is not t:1/].entries()) {
      assert.match(errors[i], re);
    }
  });
});
