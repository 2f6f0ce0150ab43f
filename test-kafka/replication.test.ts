/**
 * Replication on a real 3-node cluster: a topic with replication factor 3 and
 * min.insync.replicas=2; appends go on while one broker is SIGKILLed; every acknowledged append is
 * read back afterwards, in order, at the offsets it was given. An exactly-once job whose commits
 * write its changelog, its checkpoint and outputs re-keyed over six partitions, led by different
 * brokers, in one transaction.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KafkaLog, openKafkaLog } from '../src/log/index.js';
import { changelogTopic, checkpointTopic, runJob } from '../src/runtime/index.js';
import { readAll } from '../test/log/log-suite.js';
import { countJob } from './fixtures/count-job.js';
import { startBroker } from './helpers/broker.js';
import { checkExactlyOnce, produceCounts } from './helpers/outputs.js';

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

  // before the broker kill below: all three brokers lead partitions
  it('commits an exactly-once job’s changelog, checkpoint and outputs led by different brokers together', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'eddy-krepl-job-'));
    try {
      const job = countJob({ suffix: '-repl', exactlyOnce: true, commitMs: 100 });
      // one task: its outputs, keyed by murmur2, go to every partition of a 6-partition topic
      await log.createTopic('kcount-repl-in', { partitions: 1 });
      await log.createTopic('kcount-repl-out', { partitions: 6 });
      const model = new Map<string, number>();
      const produce = (from: number, count: number) =>
        produceCounts(log, {
          topic: 'kcount-repl-in',
          partitions: 1,
          keys: 200,
          placement: 'explicit',
          from,
          count,
          model,
        });
      await produce(0, 2000);
      await runJob(job, { log, dataDir, untilCaughtUp: true });
      await produce(2000, 2000);
      await runJob(job, { log, dataDir, untilCaughtUp: true });
      await checkExactlyOnce(log, 'kcount-repl-out', model);
      // the transaction did span brokers: some output partition's leader is not the changelog's
      const leaderOf = async (topic: string) =>
        (await log.admin.metadata(topic)).partitions.map((p) => p.leader);
      const [changelog] = await leaderOf(changelogTopic(job.name, 'counts'));
      const [checkpoint] = await leaderOf(checkpointTopic(job.name));
      const outputs = await leaderOf('kcount-repl-out');
      assert.ok(
        outputs.some((l) => l !== changelog),
        `leaders: changelog ${changelog}, checkpoint ${checkpoint}, outputs ${outputs.join(', ')}`,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
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
