/**
 * Transactional ids on a real broker: an id survives restarts of its writer (InitProducerId as a
 * new producer, not PRODUCER_FENCED), an empty transaction ends without an EndTxn, transactions of
 * different ids are open together on one log, and a newer writer of an id fences the older one
 * (`EDDY_FENCED`), whose open transaction never becomes visible.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KafkaLog, openKafkaLog } from '../src/log/index.js';
import { startBroker } from './helpers/broker.js';

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
});
