import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deadLetterTopic, defineJob, type JobInput } from '../../../src/runtime/job.js';
import type { IncomingEnvelope, StreamTask } from '../../../src/runtime/task.js';
import { TestDriver } from '../../../src/runtime/test-driver/index.js';
import { serdes } from '../../../src/store/serdes.js';
import type { KeyValueStore } from '../../../src/store/types.js';
import { isEddyError } from '../../../src/util/errors.js';
import { partitionForKey } from '../../../src/util/murmur2.js';

type After = { after(fn: () => Promise<void>): void };

/**
 * A job that adds `n` per key into store `sums` and sends each new sum to `sums-out`. A value
 * without a numeric `n` throws. `seen` records every envelope of every task.
 */
function sumJob(overrides: Partial<JobInput> = {}, seen: IncomingEnvelope[] = []) {
  return defineJob({
    name: 'sums',
    inputs: ['amounts'],
    outputs: ['sums-out'],
    stores: { sums: { engine: 'memory', key: serdes.string, value: serdes.json<number>() } },
    task: (): StreamTask => {
      let sums: KeyValueStore<string, number>;
      return {
        init(ctx) {
          sums = ctx.store('sums');
        },
        process(msg, out, coord) {
          seen.push(msg);
          const { n, commit, shutdown } = msg.value as { n: unknown; commit?: boolean; shutdown?: boolean };
          if (typeof n !== 'number') throw new Error(`no n in ${JSON.stringify(msg.value)}`);
          const key = (msg.key as string | null) ?? '(none)';
          const sum = (sums.get(key) ?? 0) + n;
          sums.put(key, sum);
          out.send({ topic: 'sums-out', key, value: sum });
          if (commit) coord.commit();
          if (shutdown) coord.shutdown();
        },
      };
    },
    ...overrides,
  });
}

async function open(t: After, job: ReturnType<typeof defineJob>, partitions = 1, now?: number) {
  const driver = await TestDriver.create(job, { partitions, now });
  t.after(() => driver.close());
  return driver;
}

describe('TestDriver', () => {
  it('hands the task an envelope with the decoded and raw key and value, offset and timestamp', async (t) => {
    const seen: IncomingEnvelope[] = [];
    const driver = await open(t, sumJob({}, seen), 1, 5_000);
    assert.deepEqual(driver.send('amounts', { key: 'a', value: { n: 2 }, headers: { trace: 'x' } }), {
      partition: 0,
      offset: 0,
    });
    driver.send('amounts', { key: 'a', value: { n: 3 }, timestamp: 42 });
    assert.equal(seen.length, 2);
    assert.deepEqual(
      { ...seen[0], headers: { trace: seen[0].headers.trace.toString() } },
      {
        topic: 'amounts',
        partition: 0,
        offset: 0,
        timestamp: 5_000,
        key: 'a',
        value: { n: 2 },
        headers: { trace: 'x' },
        rawKey: Buffer.from('a'),
        rawValue: Buffer.from('{"n":2}'),
      },
    );
    assert.equal(seen[1].offset, 1);
    assert.equal(seen[1].timestamp, 42);
    assert.deepEqual(driver.outputs('sums-out'), [
      { key: 'a', value: 2, partition: 0 },
      { key: 'a', value: 5, partition: 0 },
    ]);
    assert.equal(driver.store('sums').get('a'), 5);
    assert.equal(driver.records('sums-out')[1].value?.toString(), '5');
  });

  it('routes like the runtime: explicit partition, else murmur2 of the encoded key, else partition 0', async (t) => {
    const seen: IncomingEnvelope[] = [];
    const driver = await open(t, sumJob({}, seen), 5);
    for (let i = 0; i < 50; i++) {
      const key = `key-${i}`;
      const { partition } = driver.send('amounts', { key, value: { n: 1 } });
      assert.equal(partition, partitionForKey(Buffer.from(key), 5));
      assert.equal(driver.store('sums', partition).get(key), 1);
    }
    assert.equal(driver.send('amounts', { key: 'key-0', value: { n: 1 }, partition: 3 }).partition, 3);
    assert.equal(driver.store('sums', 3).get('key-0'), 1, 'partition 3 has its own state');
    const p0 = partitionForKey(Buffer.from('key-0'), 5);
    if (p0 !== 3) assert.equal(driver.store('sums', p0).get('key-0'), 1);
    assert.equal(driver.sendRaw('amounts', { key: null, value: Buffer.from('{"n":1}') }).partition, 0);
    // Output keys are routed the same way over the output partitions.
    for (const o of driver.outputs('sums-out').slice(0, 50)) {
      assert.equal(o.partition, partitionForKey(Buffer.from(o.key as string), 5));
    }
    assert.throws(
      () => driver.send('amounts', { key: 'a', value: { n: 1 }, partition: 5 }),
      (err) => isEddyError(err, 'EDDY_INVALID_ARGUMENT'),
    );
    assert.throws(
      () => driver.send('nope', { key: 'a', value: 1 }),
      (err) => isEddyError(err, 'EDDY_INVALID_ARGUMENT') && /not an input/.test(err.message),
    );
    // Offsets count per partition.
    assert.equal(
      driver.send('amounts', { key: 'z', value: { n: 1 }, partition: 4 }).offset,
      seen.filter((e) => e.partition === 4).length - 1,
    );
  });

  it('isolates state: each partition has its own task and store', async (t) => {
    const driver = await open(t, sumJob(), 2);
    driver.send('amounts', { key: 'k', value: { n: 1 }, partition: 0 });
    driver.send('amounts', { key: 'k', value: { n: 10 }, partition: 1 });
    driver.send('amounts', { key: 'k', value: { n: 1 }, partition: 0 });
    assert.equal(driver.store('sums', 0).get('k'), 2);
    assert.equal(driver.store('sums', 1).get('k'), 10);
    assert.deepEqual(
      driver.metrics().tasks.map((m) => m.processed),
      [2, 1],
    );
  });

  it('fires window() once per windowMs passed, on every task, at the boundary time', async (t) => {
    const calls: [number, number][] = [];
    const driver = await open(
      t,
      defineJob({
        name: 'w',
        inputs: ['in'],
        windowMs: 100,
        task: () => {
          let p = -1;
          return {
            init(ctx) {
              p = ctx.partition;
            },
            process() {},
            window() {
              calls.push([p, driver.now]);
            },
          };
        },
      }),
      2,
      1_000,
    );
    driver.advanceTime(99);
    assert.deepEqual(calls, []);
    driver.advanceTime(1);
    assert.deepEqual(calls, [
      [0, 1_100],
      [1, 1_100],
    ]);
    calls.length = 0;
    driver.advanceTime(250);
    assert.deepEqual(calls, [
      [0, 1_200],
      [1, 1_200],
      [0, 1_300],
      [1, 1_300],
    ]);
    assert.equal(driver.now, 1_350);
    driver.advanceTime(50);
    assert.equal(calls.length, 6);
  });

  it("onError 'fail': send throws TaskFailedError naming topic, partition and offset, with the cause", async (t) => {
    const driver = await open(t, sumJob({ onError: 'fail' }));
    driver.send('amounts', { key: 'a', value: { n: 1 } });
    assert.throws(
      () => driver.send('amounts', { key: 'a', value: { bad: true } }),
      (err) =>
        isEddyError(err, 'EDDY_TASK_FAILED') &&
        err.message.includes('amounts/0@1') &&
        err.cause instanceof Error &&
        /no n in/.test(err.cause.message),
    );
    // A value that cannot be decoded fails the same way.
    assert.throws(
      () => driver.sendRaw('amounts', { key: Buffer.from('a'), value: Buffer.from('{oops') }),
      (err) => isEddyError(err, 'EDDY_TASK_FAILED') && /amounts\/0@2 could not be decoded/.test(err.message),
    );
    assert.equal(driver.metrics().processed, 1);
  });

  it("onError 'skip': counts and logs, and goes on", async (t) => {
    const driver = await open(t, sumJob({ onError: 'skip' }));
    driver.send('amounts', { key: 'a', value: { bad: true } });
    driver.sendRaw('amounts', { key: Buffer.from('a'), value: Buffer.from('{oops') });
    driver.send('amounts', { key: 'a', value: { n: 4 } });
    const m = driver.metrics();
    assert.deepEqual([m.processed, m.skipped, m.deadLettered], [1, 2, 0]);
    assert.equal(driver.logs.length, 2);
    assert.equal(driver.logs[0].level, 'warn');
    assert.match(driver.logs[1].message, /amounts\/0@1: could not be decoded/);
    assert.deepEqual(driver.outputs(deadLetterTopic('sums')), []);
  });

  it("onError 'dead-letter': the raw record goes to the dead-letter topic with the error in headers", async (t) => {
    const driver = await open(t, sumJob({ onError: 'dead-letter' }), 2);
    driver.send('amounts', {
      key: 'a',
      value: { bad: true },
      partition: 1,
      headers: { trace: 't1' },
      timestamp: 7,
    });
    driver.sendRaw('amounts', { key: Buffer.from('b'), value: Buffer.from('{oops'), partition: 0 });
    const dead = driver.outputs<Buffer, Buffer>(deadLetterTopic('sums'));
    assert.equal(dead.length, 2);
    assert.equal(dead[0].key?.toString(), 'a');
    assert.equal(dead[0].value?.toString(), '{"bad":true}');
    assert.equal(dead[0].partition, 1);
    const h = Object.fromEntries(Object.entries(dead[0].headers ?? {}).map(([k, v]) => [k, v.toString()]));
    assert.deepEqual(h, {
      trace: 't1',
      'eddy.error': 'failed in process(): no n in {"bad":true}',
      'eddy.topic': 'amounts',
      'eddy.partition': '1',
      'eddy.offset': '0',
    });
    assert.match(dead[1].headers?.['eddy.error']?.toString() ?? '', /^could not be decoded: /);
    assert.equal(dead[1].value?.toString(), '{oops');
    assert.equal(driver.records(deadLetterTopic('sums'))[0].timestamp, 7);
    assert.equal(driver.metrics().deadLettered, 2);
    assert.deepEqual(driver.outputs('sums-out'), []);
  });

  it('records coord.commit() and coord.shutdown()', async (t) => {
    const driver = await open(t, sumJob());
    driver.send('amounts', { key: 'a', value: { n: 1, commit: true } });
    assert.equal(driver.commitRequests, 1);
    assert.equal(driver.isShutdown, false);
    driver.send('amounts', { key: 'a', value: { n: 1, shutdown: true } });
    assert.equal(driver.isShutdown, true);
  });

  it('shows store writes in the changelog after commit, tombstones included', async (t) => {
    const driver = await open(
      t,
      defineJob({
        name: 'cl',
        inputs: ['in'],
        stores: { kv: { engine: 'memory', key: serdes.string, value: serdes.json<unknown>() } },
        task: () => {
          let kv: KeyValueStore<string, unknown>;
          return {
            init(ctx) {
              kv = ctx.store('kv');
            },
            process(msg) {
              if (msg.value === null) kv.delete(msg.key as string);
              else kv.put(msg.key as string, msg.value);
            },
          };
        },
      }),
    );
    driver.send('in', { key: 'x', value: { v: 1 } });
    driver.send('in', { key: 'y', value: { v: 2 } });
    await driver.commit();
    driver.send('in', { key: 'x', value: null });
    await driver.commit();
    assert.deepEqual(driver.changelog('kv'), [
      { offset: 0, key: 'x', value: { v: 1 } },
      { offset: 1, key: 'y', value: { v: 2 } },
      { offset: 2, key: 'x', value: null },
    ]);
    assert.equal(driver.store('kv').get('x'), undefined);
    assert.throws(
      () => driver.store('nope'),
      (err) => isEddyError(err, 'EDDY_INVALID_ARGUMENT'),
    );
  });

  it('waits for an asynchronous process with settle(), keeping order per task', async (t) => {
    const order: number[] = [];
    const driver = await open(
      t,
      defineJob({
        name: 'async',
        inputs: ['in'],
        outputs: ['out'],
        task: () => ({
          async process(msg, out) {
            const { i, delay } = msg.value as { i: number; delay: number };
            await new Promise((resolve) => setTimeout(resolve, delay));
            order.push(i);
            out.send({ topic: 'out', key: 'k', value: i });
          },
        }),
      }),
    );
    driver.send('in', { key: 'k', value: { i: 1, delay: 20 } });
    driver.send('in', { key: 'k', value: { i: 2, delay: 0 } });
    assert.deepEqual(order, []);
    await driver.settle();
    assert.deepEqual(order, [1, 2]);
    assert.deepEqual(
      driver.outputs('out').map((o) => o.value),
      [1, 2],
    );
    assert.equal(driver.metrics().processed, 2);
  });

  it('throws the failure of an asynchronous process from settle() under fail', async (t) => {
    const driver = await open(
      t,
      defineJob({
        name: 'async-fail',
        inputs: ['in'],
        task: () => ({
          async process() {
            throw new Error('boom');
          },
        }),
      }),
    );
    driver.send('in', { key: 'k', value: 1 });
    await assert.rejects(
      driver.settle(),
      (err) => isEddyError(err, 'EDDY_TASK_FAILED') && /boom/.test(err.message),
    );
  });

  it('counts the tasks own counters, and rejects sends to undeclared outputs', async (t) => {
    const driver = await open(
      t,
      defineJob({
        name: 'm',
        inputs: ['in'],
        onError: 'skip',
        task: () => {
          let c: { inc(by?: number): void };
          return {
            init(ctx) {
              c = ctx.metrics.counter('seen');
            },
            process(msg, out) {
              c.inc(2);
              if (msg.value === 'leak') out.send({ topic: 'elsewhere', value: 1 });
            },
          };
        },
      }),
      2,
    );
    driver.send('in', { value: 'a', partition: 0 });
    driver.send('in', { value: 'b', partition: 1 });
    driver.send('in', { value: 'leak', partition: 1 });
    const m = driver.metrics();
    assert.equal(m.counters.seen, 6);
    assert.deepEqual(m.tasks[1].counters, { seen: 4 });
    assert.equal(m.skipped, 1);
    assert.match(driver.logs[0].message, /not among the job's outputs/);
  });

  it('calls close() of every task, and close is idempotent', async (t) => {
    let closed = 0;
    const driver = await TestDriver.create(
      defineJob({
        name: 'c',
        inputs: ['in'],
        stores: { s: { engine: 'memory', key: serdes.string, value: serdes.string } },
        task: () => ({
          process() {},
          close() {
            closed++;
          },
        }),
      }),
      { partitions: 3 },
    );
    const store = driver.store('s', 2);
    await driver.close();
    await driver.close();
    assert.equal(closed, 3);
    assert.equal(store.isOpen, false);
    assert.throws(
      () => driver.send('in', { value: 1 }),
      (err) => isEddyError(err, 'EDDY_INVALID_ARGUMENT'),
    );
    void t;
  });
});

describe('TestDriver inputs', () => {
  it('refuses a missing value, or a key or value the input serde cannot encode', async (t) => {
    const driver = await open(t, sumJob({ inputs: [{ topic: 'amounts', key: serdes.int64Number }] }));
    assert.throws(
      () => driver.send('amounts', { key: 1, value: undefined as unknown as null }),
      (err) => isEddyError(err, 'EDDY_INVALID_ARGUMENT') && /needs a value/.test(err.message),
    );
    assert.throws(
      () => driver.send('amounts', { key: 1.5, value: { n: 1 } }),
      (err) =>
        isEddyError(err, 'EDDY_INVALID_ARGUMENT') &&
        /key sent to "amounts" cannot be encoded/.test(err.message),
    );
    assert.equal(driver.metrics().processed, 0);
  });

  it('is exported from the eddy/testing entry', async () => {
    const testing = await import('../../../src/testing.js');
    assert.equal(testing.TestDriver, TestDriver);
  });
});

describe('TestDriver stores and windows', () => {
  function kvJob(overrides: Partial<JobInput> = {}) {
    return defineJob({
      name: 'kv',
      inputs: ['in'],
      stores: { kv: { engine: 'memory', key: serdes.string, value: serdes.json<unknown>(), ttlMs: 1_000 } },
      task: () => {
        let kv: KeyValueStore<string, unknown>;
        return {
          init(ctx) {
            kv = ctx.store('kv');
          },
          process(msg) {
            kv.put(msg.key as string, msg.value);
          },
        };
      },
      ...overrides,
    });
  }

  it('expires ttl stores by the fake clock, and the expiry reaches the changelog as a tombstone', async (t) => {
    const driver = await open(t, kvJob(), 1, 50_000);
    driver.send('in', { key: 'a', value: 1 });
    await driver.commit();
    assert.deepEqual(driver.changelog('kv'), [{ offset: 0, key: 'a', value: 1, expiresAt: 51_000 }]);
    driver.advanceTime(999);
    assert.equal(driver.store('kv').get('a'), 1);
    driver.advanceTime(1);
    assert.equal(driver.store('kv').get('a'), undefined);
    await driver.commit();
    assert.deepEqual(driver.changelog('kv').at(-1), { offset: 1, key: 'a', value: null });
  });

  it('refuses changelog() of a store without a changelog', async (t) => {
    const driver = await open(
      t,
      kvJob({
        stores: { kv: { engine: 'memory', key: serdes.string, value: serdes.json(), changelog: false } },
      }),
    );
    driver.send('in', { key: 'a', value: 1 });
    assert.equal(driver.store('kv').get('a'), 1);
    assert.throws(
      () => driver.changelog('kv'),
      (err) => isEddyError(err, 'EDDY_INVALID_ARGUMENT'),
    );
  });

  it('throws an error of window() from advanceTime, whatever the error policy', async (t) => {
    const driver = await open(
      t,
      defineJob({
        name: 'wfail',
        inputs: ['in'],
        windowMs: 10,
        onError: 'skip',
        task: () => ({
          process() {},
          window() {
            throw new Error('window broke');
          },
        }),
      }),
    );
    assert.throws(() => driver.advanceTime(10), /window broke/);
  });

  it('waits for an asynchronous window() with settle()', async (t) => {
    let windows = 0;
    const driver = await open(
      t,
      defineJob({
        name: 'wasync',
        inputs: ['in'],
        windowMs: 10,
        task: () => ({
          process() {},
          async window() {
            await new Promise((resolve) => setTimeout(resolve, 5));
            windows++;
          },
        }),
      }),
      2,
    );
    driver.advanceTime(30);
    await driver.settle();
    assert.equal(windows, 6);
  });
});
