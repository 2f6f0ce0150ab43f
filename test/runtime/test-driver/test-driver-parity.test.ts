/**
 * The test driver against the real runtime: the same job and input, run once by `runJob` on the
 * memory log (LMDB stores, a real container) and once by the `TestDriver`, must give the same
 * outputs per partition (in order), the same dead letters and the same final stores. This is what
 * makes a test written against the driver hold in production.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateCartEvents } from '../../../examples/shopping-cart/events.js';
import job from '../../../examples/shopping-cart/job.js';
import { MemoryLog } from '../../../src/log/memory/memory-log.js';
import type { Log, LogRecord } from '../../../src/log/types.js';
import { Container } from '../../../src/runtime/container.js';
import { deadLetterTopic } from '../../../src/runtime/job.js';
import { runJob } from '../../../src/runtime/run-job.js';
import { TestDriver } from '../../../src/runtime/test-driver/index.js';
import { partitionForKey } from '../../../src/util/murmur2.js';
import { tempDir } from '../../helpers/tmp.js';

const PARTITIONS = 3;

async function readPartition(log: Log, topic: string, partition: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let offset = 0;
  for (;;) {
    const records = await log.read(topic, partition, offset, { maxRecords: 10_000 });
    if (records.length === 0) return out;
    out.push(...records);
    offset = records[records.length - 1].offset + 1;
  }
}

/** A realistic stream with some bad events mixed in (bad JSON, unknown types, bad quantities). */
function input(): { key: string; value: Buffer; timestamp: number }[] {
  const events: { key: string; value: Buffer; timestamp: number }[] = [];
  let i = 0;
  for (const { key, value } of generateCartEvents({ users: 40, events: 1_500, seed: 11 })) {
    i++;
    let raw = Buffer.from(JSON.stringify(value));
    if (i % 97 === 0) raw = Buffer.from('{"type":"add",');
    else if (i % 89 === 0) raw = Buffer.from(JSON.stringify({ ...value, type: 'wish' }));
    else if (i % 83 === 0) raw = Buffer.from(JSON.stringify({ type: 'add', user: key, item: 'x', qty: -2 }));
    events.push({ key, value: raw, timestamp: 1_000 + i });
  }
  return events;
}

const decode = (r: LogRecord) => ({
  key: r.key?.toString() ?? null,
  value: r.value === null ? null : JSON.parse(r.value.toString()),
});
const raw = (r: { key: Buffer | null; value: Buffer | null; headers: Readonly<Record<string, Buffer>> }) => ({
  key: r.key?.toString() ?? null,
  value: r.value?.toString() ?? null,
  headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])),
});

describe('TestDriver parity with the runtime', () => {
  it('gives the same outputs, dead letters and stores as a container on the memory log', async (t) => {
    const events = input();

    // The runtime.
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    t.after(() => log.close());
    await log.createTopic('cart-events', { partitions: PARTITIONS });
    for (const e of events) {
      const key = Buffer.from(e.key);
      await log.append('cart-events', partitionForKey(key, PARTITIONS), [
        { key, value: e.value, timestamp: e.timestamp },
      ]);
    }
    const metrics = await runJob(job, { log, dataDir, untilCaughtUp: true });

    // The driver.
    const driver = await TestDriver.create(job, { partitions: PARTITIONS });
    t.after(() => driver.close());
    for (const e of events)
      driver.sendRaw('cart-events', { key: Buffer.from(e.key), value: e.value, timestamp: e.timestamp });

    assert.ok(driver.metrics().deadLettered > 20, 'the input has bad events');
    assert.equal(driver.metrics().processed, metrics.processed);
    assert.equal(driver.metrics().deadLettered, metrics.deadLettered);

    for (let p = 0; p < PARTITIONS; p++) {
      const totals = (await readPartition(log, 'cart-totals', p)).map(decode);
      assert.deepEqual(
        driver
          .records('cart-totals')
          .filter((r) => r.partition === p)
          .map((r) => ({
            key: r.key?.toString() ?? null,
            value: r.value === null ? null : JSON.parse(r.value.toString()),
          })),
        totals,
        `cart-totals partition ${p}`,
      );
    }
    const dlq = deadLetterTopic(job.name);
    const dead: ReturnType<typeof raw>[] = [];
    for (let p = 0; p < PARTITIONS; p++) dead.push(...(await readPartition(log, dlq, p)).map(raw));
    const driverDead = driver.records(dlq).map(raw);
    const order = (a: ReturnType<typeof raw>, b: ReturnType<typeof raw>) =>
      Number(a.headers['eddy.partition']) - Number(b.headers['eddy.partition']) ||
      Number(a.headers['eddy.offset']) - Number(b.headers['eddy.offset']);
    assert.deepEqual(driverDead.sort(order), dead.sort(order));

    const container = new Container(job, { log, dataDir });
    await container.start();
    try {
      for (let p = 0; p < PARTITIONS; p++) {
        const it = container.storesOf(p)?.get('carts')?.all();
        const runtime = Object.fromEntries([...(it ?? [])].map((e) => [e.key as string, e.value]));
        const it2 = driver.store('carts', p).all();
        const inDriver = Object.fromEntries([...it2].map((e) => [e.key as string, e.value]));
        assert.deepEqual(inDriver, runtime, `carts partition ${p}`);
        assert.ok(Object.keys(runtime).length > 0);
      }
    } finally {
      await container.close();
    }
  });
});
