import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import job, {
  type ConfigCommand,
  type ConfigHistory,
  type ConfigVersion,
  historyKey,
  versionsOf,
} from '../../examples/config-center/job.js';
import { deadLetterTopic } from '../../src/runtime/job.js';
import { TestDriver } from '../../src/runtime/test-driver/index.js';

async function driverFor(t: { after(fn: () => Promise<void>): void }): Promise<TestDriver> {
  const driver = await TestDriver.create(job, { partitions: 1, now: 100 });
  t.after(() => driver.close());
  return driver;
}

const command = (driver: TestDriver, cmd: ConfigCommand) =>
  driver.send('config-commands', { key: cmd.key, value: cmd });

describe('config-center example', () => {
  it('keeps the latest value per key and sends each change', async (t) => {
    const driver = await driverFor(t);
    command(driver, { op: 'set', key: 'app.timeout', value: 30, author: 'ann' });
    command(driver, { op: 'set', key: 'app.timeout', value: 45 });
    command(driver, { op: 'set', key: 'app', value: { mode: 'blue' } });
    assert.deepEqual(driver.store<string, ConfigVersion>('current').get('app.timeout'), {
      key: 'app.timeout',
      version: 2,
      value: 45,
      at: 100,
    });
    assert.deepEqual(
      driver
        .outputs<string, ConfigVersion>('config-changes')
        .map((o) => [o.key, o.value?.version, o.value?.value]),
      [
        ['app.timeout', 1, 30],
        ['app.timeout', 2, 45],
        ['app', 1, { mode: 'blue' }],
      ],
    );
  });

  it('ignores a set of the value a key already has', async (t) => {
    const driver = await driverFor(t);
    command(driver, { op: 'set', key: 'x', value: { a: 1 } });
    command(driver, { op: 'set', key: 'x', value: { a: 1 } });
    assert.equal(driver.outputs('config-changes').length, 1);
  });

  it('lists versions with a prefix scan that does not mix keys sharing a prefix', async (t) => {
    const driver = await driverFor(t);
    for (let v = 1; v <= 12; v++) command(driver, { op: 'set', key: 'app', value: v });
    command(driver, { op: 'set', key: 'app.timeout', value: 5 });
    const versions = versionsOf(driver.store('history'), 'app');
    assert.deepEqual(
      versions.map((v) => v.version),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
      'numeric order, not 1, 10, 11, 12, 2',
    );
    command(driver, { op: 'history', key: 'app', requestId: 'q1', limit: 3 });
    const answer = driver.outputs<string, ConfigHistory>('config-history')[0].value;
    assert.equal(answer?.requestId, 'q1');
    assert.deepEqual(
      answer?.versions.map((v) => v.value),
      [10, 11, 12],
    );
  });

  it('delete records a version and sends a tombstone; set brings the key back', async (t) => {
    const driver = await driverFor(t);
    command(driver, { op: 'set', key: 'flag', value: true });
    command(driver, { op: 'delete', key: 'flag' });
    command(driver, { op: 'delete', key: 'flag' });
    assert.equal(driver.store('current').get('flag'), undefined);
    assert.deepEqual(driver.outputs('config-changes')[1], { key: 'flag', value: null, partition: 0 });
    assert.equal(driver.outputs('config-changes').length, 2, 'deleting a deleted key changes nothing');
    assert.equal(driver.store<string, ConfigVersion>('history').get(historyKey('flag', 2))?.deleted, true);
    command(driver, { op: 'set', key: 'flag', value: false });
    assert.equal(driver.store<string, ConfigVersion>('current').get('flag')?.version, 3);
  });

  it('rollback makes an old value current as a new version', async (t) => {
    const driver = await driverFor(t);
    command(driver, { op: 'set', key: 'db.url', value: 'a' });
    command(driver, { op: 'set', key: 'db.url', value: 'b' });
    command(driver, { op: 'rollback', key: 'db.url', version: 1, author: 'ops' });
    assert.deepEqual(driver.store<string, ConfigVersion>('current').get('db.url'), {
      key: 'db.url',
      version: 3,
      value: 'a',
      author: 'ops',
      at: 100,
    });
  });

  it('dead-letters bad commands', async (t) => {
    const driver = await driverFor(t);
    const bad: unknown[] = [
      { op: 'rename', key: 'a' },
      { op: 'set', key: '' },
      { op: 'set', key: 'a\u0000b', value: 1 },
      { op: 'set', key: 'a' },
      { op: 'rollback', key: 'a', version: 9 },
      { op: 'history', key: 'a' },
    ];
    for (const value of bad) driver.send('config-commands', { key: 'a', value });
    const errors = driver
      .outputs(deadLetterTopic('config-center'))
      .map((d) => d.headers?.['eddy.error']?.toString() ?? '');
    assert.equal(errors.length, bad.length);
    for (const [i, re] of [
      /unknown op/,
      /needs a key/,
      /without NUL/,
      /needs a value/,
      /no version 9/,
      /requestId/,
    ].entries()) {
      assert.match(errors[i], re);
    }
    assert.deepEqual(driver.outputs('config-changes'), []);
  });
});
