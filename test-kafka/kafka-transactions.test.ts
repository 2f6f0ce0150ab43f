/**
 * Transactional ids on a real broker: an id survives restarts of its writer (InitProducerId as a
 * new producer, not PRODUCER_FENCED), an empty transaction ends without an EndTxn, transactions of
 * different ids are open together on one log, and a newer writer of an id fences the older one
 * (`EDDY_FENCED`), whose open transaction never becomes visible. One transaction appends to many
 * partitions of several topics at once and commits all of them (each partition joins the transaction
 * before its first produce: issue 14); one whose append the broker refused cannot commit the rest.
 * Exactly-once jobs in this process whose commits span partitions: outputs re-keyed away from the
 * task's partition, a dead-letter topic, several output topics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KafkaLog, openKafkaLog } from '../src/log/index.js';
import { deadLetterTopic, runJob } from '../src/runtime/index.js';
import { type CountJobOptions, countJob, countOutputs } from './fixtures/count-job.js';
import { startBroker } from './helpers/broker.js';
import { checkExactlyOnce, outputsByKey, type Placement, produceCounts } from './helpers/outputs.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('Kafka transactional ids', () => {
  const broker = startBroker();
  const logs: KafkaLog[] = [];
  const open = async (transactionalId?: string): Promise<KafkaLog> => {
    const log = await openKafkaLog({ brokers: broker.brokers, clientId: 'eddy-txn-test', transactionalId });
    logs.push(log);
    return log;
  };
  let reader: KafkaLog;
  before(async () => {
    reader = await open();
    await reader.createTopic('t', { partitions: 2 });
  });
  after(async () => {
    for (const log of logs) await log.close();
  });

  /** Every record value of `topic`/`partition` from `offset`, read committed. */
  const values = async (topic: string, partition: number, offset = 0): Promise<string[]> =>
    (await reader.read(topic, partition, offset, { maxRecords: 10_000 })).map((r) => String(r.value));

  it('commits one transaction appending to many partitions of several topics at once', async () => {
    await reader.createTopic('wide-a', { partitions: 6 });
    await reader.createTopic('wide-b', { partitions: 3 });
    const targets = [
      ...Array.from({ length: 6 }, (_, p) => ['wide-a', p] as const),
      ...Array.from({ length: 3 }, (_, p) => ['wide-b', p] as const),
    ];
    const log = await open('wide-1');
    for (let round = 0; round < 3; round++) {
      const t = await log.beginTransaction();
      // every first append to a partition at once, then a second wave while the first is in flight
      const appends = targets.flatMap(([topic, p]) => [
        t.append(topic, p, [{ key: b('k'), value: b(`${round}-${p}-a`) }]),
        t.append(topic, p, [{ key: b('k'), value: b(`${round}-${p}-b`) }]),
      ]);
      await Promise.all(appends);
      await t.commit();
    }
    for (const [topic, p] of targets) {
      assert.ok(await reader.waitForData(topic, p, 0, 10_000), `${topic}/${p}`);
      const want = [0, 1, 2].flatMap((round) => [`${round}-${p}-a`, `${round}-${p}-b`]);
      // the last commit's markers may trail commit() by a few ms
      for (let i = 0; i < 100 && (await values(topic, p)).length < want.length; i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await values(topic, p), want, `${topic}/${p}`);
    }
  });

  it('refuses to commit a transaction an append of which the broker refused, and aborts it', async () => {
    // a record over the topic's max.message.bytes (1 MiB by default): MESSAGE_TOO_LARGE
    await reader.createTopic('refused', { partitions: 2 });
    const log = await open('refused-1');
    const t = await log.beginTransaction();
    await t.append('refused', 0, [{ key: b('k'), value: b('ok') }]);
    const records = [
      { key: b('k'), value: b('small') },
      { key: b('k'), value: Buffer.alloc(2 << 20) },
    ];
    await assert.rejects(t.append('refused', 1, records), {
      code: 'EDDY_RECORD_TOO_LARGE',
      message:
        /^record 1 of 2 of the append, the largest, for topic "refused" partition 1 is 2097153 bytes .*MESSAGE_TOO_LARGE.*max\.message\.bytes/,
    });
    // the commit aborts, rejecting with the append's failure
    await assert.rejects(t.commit(), { code: 'EDDY_RECORD_TOO_LARGE' });
    // the id goes on; what it commits next is all that shows
    const t2 = await log.beginTransaction();
    await t2.append('refused', 0, [{ key: b('k'), value: b('next') }]);
    await t2.commit();
    assert.ok(await reader.waitForData('refused', 0, 0, 10_000));
    assert.deepEqual(await values('refused', 0), ['next']);
  });

  it('ends a transaction that appended nothing (commit and abort)', async () => {
    const log = await open('empty-1');
    await (await log.beginTransaction()).abort();
    await (await log.beginTransaction()).commit();
    const t = await log.beginTransaction();
    await t.append('t', 0, [{ key: b('k'), value: b('after-empty') }]);
    await t.commit();
  });

  it('gives a transactional id back to a restarted writer', async () => {
    const first = await open('restart-1');
    const t1 = await first.beginTransaction();
    await t1.append('t', 0, [{ key: b('k'), value: b('first') }]);
    await t1.commit();
    await first.close();
    const second = await open('restart-1');
    const t2 = await second.beginTransaction();
    await t2.append('t', 0, [{ key: b('k'), value: b('second') }]);
    await t2.commit();
    // and a third incarnation while the second one's id is still known to the coordinator
    const third = await open('restart-1');
    await third.fenceTransactions('restart-1');
    await (await third.beginTransaction()).commit();
  });

  it('keeps transactions of different ids open together', async () => {
    const log = await open();
    const a = await log.beginTransaction({ id: 'multi-a' });
    const c = await log.beginTransaction({ id: 'multi-c' });
    await assert.rejects(log.beginTransaction({ id: 'multi-a' }), { code: 'EDDY_INVALID_ARGUMENT' });
    const end = await reader.endOffset('t', 1);
    await a.append('t', 1, [{ key: b('a'), value: b('a') }]);
    await c.append('t', 1, [{ key: b('c'), value: b('c') }]);
    await a.commit();
    await c.abort();
    assert.ok(await reader.waitForData('t', 1, end, 10_000));
    const seen = (await reader.read('t', 1, end)).map((r) => r.value?.toString());
    assert.deepEqual(seen, ['a']);
  });

  it('fences the older writer of an id: its open transaction is aborted, its commits refused', async () => {
    const old = await open();
    const next = await open();
    const end = await reader.endOffset('t', 0);
    const zombie = await old.beginTransaction({ id: 'task-7' });
    await zombie.append('t', 0, [{ key: b('z'), value: b('zombie') }]);
    await next.fenceTransactions('task-7');
    await assert.rejects(zombie.commit(), { code: 'EDDY_FENCED' });
    await assert.rejects(old.beginTransaction({ id: 'task-7' }), { code: 'EDDY_FENCED' });
    const t = await next.beginTransaction({ id: 'task-7' });
    await t.append('t', 0, [{ key: b('n'), value: b('new owner') }]);
    await t.commit();
    // commit() resolves once the outcome is decided; the markers follow a few ms later
    assert.ok(await reader.waitForData('t', 0, end, 10_000));
    const seen = (await reader.read('t', 0, end)).map((r) => r.value?.toString());
    assert.deepEqual(seen, ['new owner']);
    // claiming the id again un-fences it on the old log (and fences the other one)
    await old.fenceTransactions('task-7');
    await (await old.beginTransaction({ id: 'task-7' })).commit();
    const t2 = await next.beginTransaction({ id: 'task-7' });
    await t2.append('t', 0, [{ key: b('x'), value: b('x') }]).catch(() => undefined);
    await assert.rejects(t2.commit(), { code: 'EDDY_FENCED' });
  });

  describe('exactly-once jobs whose commits span partitions', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'eddy-ktx-job-'));
    after(() => rmSync(dataDir, { recursive: true, force: true }));

    /**
     * Runs the count job of `o` in this process (one transaction per commit, for every task) over
     * 6000 messages on an input of `partitions` placed by `placement`, each 20th bad when
     * dead-lettering, in two runs (the second resumes from the first's commits); checks every output
     * topic exactly-once, and every bad message dead-lettered once.
     */
    const runCounts = async (
      o: CountJobOptions & { suffix: string },
      partitions: number,
      placement: Placement,
    ): Promise<void> => {
      const input = `kcount${o.suffix}-in`;
      await reader.createTopic(input, { partitions });
      const model = new Map<string, number>();
      const bad = o.deadLetter ? (i: number) => i % 20 === 7 : undefined;
      const job = countJob({ ...o, exactlyOnce: true, commitMs: 100 });
      const log = await open(`kcount${o.suffix}`);
      const produce = (from: number, count: number) =>
        produceCounts(reader, { topic: input, partitions, keys: 300, placement, from, count, model, bad });
      await produce(0, 3000);
      await runJob(job, { log, dataDir, untilCaughtUp: true });
      await produce(3000, 3000);
      await runJob(job, { log, dataDir, untilCaughtUp: true });
      for (const topic of countOutputs(o.suffix, o.outputs)) await checkExactlyOnce(reader, topic, model);
      if (bad) {
        const dead = await outputsByKey(reader, deadLetterTopic(job.name));
        let n = 0;
        for (const values of dead.values()) n += values.filter((v) => v === 'bad').length;
        assert.equal(n, 300, 'every bad message dead-lettered once');
      }
    };

    it('re-keys outputs to other partitions than the task’s (input placed by explicit partition)', async () => {
      await runCounts({ suffix: '-tx-rekey' }, 6, 'explicit');
    });

    // one task (a 1-partition input, its outputs created alike): only the second topic makes the
    // commit's transaction span partitions
    it('dead-letters into the commit’s transaction beside the outputs', async () => {
      await runCounts({ suffix: '-tx-dlq', deadLetter: true }, 1, 'murmur2');
    });

    it('writes several output topics in one transaction', async () => {
      await runCounts({ suffix: '-tx-multi', outputs: 3 }, 1, 'murmur2');
    });
  });
});
