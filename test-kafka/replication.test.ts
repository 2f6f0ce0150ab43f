/**
 * Replication on a real 3-node cluster: a topic with replication factor 3 and
 * min.insync.replicas=2; appends go on while one broker is SIGKILLed; every acknowledged append is
 * read back afterwards, in order, at the offsets it was given.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KafkaLog, openKafkaLog } from '../src/log/index.js';
import { readAll } from '../test/log/log-suite.js';
import { startBroker } from './helpers/broker.js';

describe('the Kafka log on 3 brokers', () => {
  const broker = startBroker({ brokers: 3 });
  let log: KafkaLog;
  before(async () => {
    log = await openKafkaLog({
      brokers: broker.brokers,
      replicationFactor: 3,
      minInsyncReplicas: 2,
      retries: 20,
      retryDelayMs: 500,
    });
  });
  after(async () => {
    await log?.close();
  });

  it('loses no acknowledged append when a broker is SIGKILLed mid-stream', async () => {
    const info = await log.createTopic('replicated', { partitions: 3 });
    assert.equal(info.config.replicationFactor, 3);
    assert.equal(await log.admin.rawConfig('replicated', 'min.insync.replicas'), '2');
    const acked = new Map<number, { offset: number; value: string }[]>([
      [0, []],
      [1, []],
      [2, []],
    ]);
    let failures = 0;
    const appendRound = async (round: number): Promise<void> => {
      await Promise.all(
        [0, 1, 2].map(async (p) => {
          const value = `r${round}-p${p}`;
          try {
            const r = await log.append('replicated', p, [
              { key: Buffer.from(value), value: Buffer.from(value) },
            ]);
            acked.get(p)?.push({ offset: r.baseOffset, value });
          } catch {
            failures++; // not acknowledged: may or may not be there
          }
        }),
      );
    };
    for (let round = 0; round < 30; round++) await appendRound(round);
    broker.killBroker(2);
    for (let round = 30; round < 80; round++) await appendRound(round);
    for (const [p, list] of acked) {
      const got = await readAll(log, 'replicated', p);
      const byOffset = new Map(got.map((r) => [r.offset, r.value?.toString()]));
      for (const a of list)
        assert.equal(byOffset.get(a.offset), a.value, `acknowledged ${a.value} at ${p}/${a.offset}`);
      assert.ok(
        list.length >= 50,
        `partition ${p}: ${list.length} acknowledged appends (${failures} failed)`,
      );
    }
  });
});
