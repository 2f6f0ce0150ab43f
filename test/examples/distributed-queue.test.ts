import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import job, {
  type Delivery,
  MAX_DELIVERIES,
  pendingOf,
  type QueueCommand,
  type QueuedMessage,
  VISIBILITY_TIMEOUT_MS,
  WINDOW_MS,
} from '../../examples/distributed-queue/job.js';
import { deadLetterTopic } from '../../src/runtime/job.js';
import { TestDriver } from '../../src/runtime/test-driver/index.js';

async function driverFor(t: { after(fn: () => Promise<void>): void }): Promise<TestDriver> {
  const driver = await TestDriver.create(job, { partitions: 2 });
  t.after(() => driver.close());
  return driver;
}

const command = (driver: TestDriver, cmd: QueueCommand) =>
  driver.send('queue-commands', { key: cmd.queue, value: cmd });
const deliveries = (driver: TestDriver) =>
  driver.outputs<string, Delivery>('queue-deliveries').map((o) => o.value as Delivery);

describe('distributed-queue example', () => {
  it('numbers messages per queue and delivers them at once, in order', async (t) => {
    const driver = await driverFor(t);
    command(driver, { op: 'enqueue', queue: 'emails', payload: 'a' });
    command(driver, { op: 'enqueue', queue: 'emails', payload: 'b' });
    command(driver, { op: 'enqueue', queue: 'thumbs', payload: 'x' });
    assert.deepEqual(deliveries(driver), [
      { queue: 'emails', seq: 1, payload: 'a', delivery: 1 },
      { queue: 'emails', seq: 2, payload: 'b', delivery: 1 },
      { queue: 'thumbs', seq: 1, payload: 'x', delivery: 1 },
    ]);
  });

  it('keeps unacked messages, in seq order, readable with one range scan', async (t) => {
    const driver = await driverFor(t);
    for (let i = 0; i < 12; i++) command(driver, { op: 'enqueue', queue: 'q', payload: i });
    command(driver, { op: 'enqueue', queue: 'q2', payload: 'other queue' });
    command(driver, { op: 'ack', queue: 'q', seq: 3 });
    command(driver, { op: 'ack', queue: 'q', seq: 3 });
    command(driver, { op: 'ack', queue: 'q', seq: 99 });
    const p = driver.outputs('queue-deliveries')[0].partition;
    const pending = pendingOf(driver.store<string, QueuedMessage>('messages', p), 'q');
    assert.deepEqual(
      pending.map((m) => m.seq),
      [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    );
  });

  it('redelivers a message not acked within the visibility timeout, never before it', async (t) => {
    const driver = await driverFor(t);
    driver.advanceTime(500);
    command(driver, { op: 'enqueue', queue: 'q', payload: 'slow' });
    command(driver, { op: 'enqueue', queue: 'q', payload: 'fast' });
    command(driver, { op: 'ack', queue: 'q', seq: 2 });
    driver.clearOutputs();
    driver.advanceTime(VISIBILITY_TIMEOUT_MS);
    assert.deepEqual(deliveries(driver), [], 'not before the timeout');
    driver.advanceTime(WINDOW_MS);
    assert.deepEqual(deliveries(driver), [{ queue: 'q', seq: 1, payload: 'slow', delivery: 2 }]);
    command(driver, { op: 'ack', queue: 'q', seq: 1 });
    driver.advanceTime(VISIBILITY_TIMEOUT_MS * 3);
    assert.equal(deliveries(driver).length, 1, 'acked: never again');
  });

  it('gives up after MAX_DELIVERIES and sends the message to queue-dead', async (t) => {
    const driver = await driverFor(t);
    command(driver, { op: 'enqueue', queue: 'q', payload: 'poison' });
    driver.advanceTime((VISIBILITY_TIMEOUT_MS + WINDOW_MS) * (MAX_DELIVERIES + 1));
    assert.deepEqual(
      deliveries(driver).map((d) => d.delivery),
      [1, 2, 3, 4, 5],
    );
    const dead = driver.outputs<string, QueuedMessage>('queue-dead');
    assert.equal(dead.length, 1);
    assert.equal(dead[0].value?.payload, 'poison');
    const p = dead[0].partition;
    assert.deepEqual(pendingOf(driver.store('messages', p), 'q'), []);
  });

  it('dead-letters bad commands', async (t) => {
    const driver = await driverFor(t);
    const bad: unknown[] = [
      { op: 'push', queue: 'q' },
      { op: 'enqueue', payload: 1 },
      { op: 'enqueue', queue: 'q' },
      { op: 'ack', queue: 'q', seq: 'one' },
    ];
    for (const value of bad) driver.send('queue-commands', { key: 'q', value });
    const errors = driver
      .outputs(deadLetterTopic('distributed-queue'))
      .map((d) => d.headers?.['eddy.error']?.toString() ?? '');
    assert.equal(errors.length, 4);
    for (const [i, re] of [
      /unknown op "push"/,
      /needs a queue/,
      /needs a payload/,
      /integer seq/,
    ].entries()) {
      assert.match(errors[i], re);
    }
  });
});
