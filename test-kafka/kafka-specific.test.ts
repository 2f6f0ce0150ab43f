/**
 * What only the Kafka backend does, on a real broker: topic settings as Kafka configs, ensureTopic
 * mismatches, keys/headers/tombstones round trip, read_committed transactions, and Kafka's own
 * Java client's default partitioner agreeing with Eddy's `partitionForKey`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defineJob, runJob, serdes } from '../src/index.js';
import { type KafkaLog, openKafkaLog } from '../src/log/index.js';
import { partitionForKey } from '../src/util/murmur2.js';
import { startBroker } from './helpers/broker.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('the Kafka log on a real broker', () => {
  const broker = startBroker();
  let log: KafkaLog;
  before(async () => {
    log = await openKafkaLog({
      brokers: broker.brokers,
      clientId: 'eddy-kafka-test',
      transactionalId: `eddy-kt-${process.pid}`,
    });
  });
  after(async () => {
    await log?.close();
  });

  it('creates topics with cleanup, retention and segment settings as Kafka configs', async () => {
    const info = await log.createTopic('changelog-a', {
      partitions: 3,
      cleanup: 'compact',
      retentionMs: 3_600_000,
      segmentBytes: 1_048_576,
      deleteRetentionMs: 60_000,
    });
    assert.equal(info.config.partitions, 3);
    assert.equal(info.config.cleanup, 'compact');
    assert.equal(info.config.replicationFactor, 1);
    assert.equal(await log.admin.rawConfig('changelog-a', 'cleanup.policy'), 'compact');
    assert.equal(await log.admin.rawConfig('changelog-a', 'retention.ms'), '3600000');
    assert.equal(await log.admin.rawConfig('changelog-a', 'segment.bytes'), '1048576');
    assert.equal(await log.admin.rawConfig('changelog-a', 'delete.retention.ms'), '60000');
  });

  it('rejects ensureTopic on a topic with another partition count or cleanup policy, naming both', async () => {
    await log.createTopic('mismatch', { partitions: 2, cleanup: 'delete' });
    await assert.rejects(log.ensureTopic('mismatch', { partitions: 4 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EDDY_TOPIC_MISMATCH');
      assert.match(err.message, /mismatch.*2 partitions, 4 were asked/);
      return true;
    });
    await assert.rejects(
      log.ensureTopic('mismatch', { partitions: 2, cleanup: 'compact' }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EDDY_TOPIC_MISMATCH');
        assert.match(err.message, /"delete", "compact" was asked/);
        return true;
      },
    );
    const same = await log.ensureTopic('mismatch', { partitions: 2 });
    assert.equal(same.config.partitions, 2);
  });

  it('round-trips keys, headers and tombstones', async () => {
    await log.createTopic('roundtrip', { partitions: 1, cleanup: 'compact' });
    const r = await log.append('roundtrip', 0, [
      { key: b('k1'), value: b('v1'), headers: { trace: b('t-1'), empty: b('') } },
      { key: b('k1'), value: null },
    ]);
    assert.deepEqual(r, { baseOffset: 0, nextOffset: 2 });
    const got = await log.read('roundtrip', 0, 0);
    assert.equal(got.length, 2);
    assert.equal(got[0].headers.trace.toString(), 't-1');
    assert.equal(got[0].headers.empty.length, 0);
    assert.equal(got[1].key?.toString(), 'k1');
    assert.equal(got[1].value, null);
  });

  it('refuses to run a job over an existing changelog topic with the wrong partition count or cleanup', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'eddy-kafka-job-'));
    try {
      await log.createTopic('vjob-in', { partitions: 2 });
      const job = (name: string) =>
        defineJob({
          name,
          inputs: ['vjob-in'],
          stores: { s: { key: serdes.string, value: serdes.json<number>() } },
          task: () => ({ process() {} }),
        });
      await log.createTopic('vjob1-s-changelog', { partitions: 3, cleanup: 'compact' });
      await assert.rejects(
        runJob(job('vjob1'), { log, dataDir, untilCaughtUp: true }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'EDDY_TOPIC_MISMATCH');
          assert.match(err.message, /vjob1-s-changelog/);
          return true;
        },
      );
      await log.createTopic('vjob2-s-changelog', { partitions: 2, cleanup: 'delete' });
      await assert.rejects(runJob(job('vjob2'), { log, dataDir, untilCaughtUp: true }), {
        code: 'EDDY_TOPIC_MISMATCH',
      });
      // created by the job: compacted, with the input's partition count
      await runJob(job('vjob3'), { log, dataDir, untilCaughtUp: true });
      const info = await log.describeTopic('vjob3-s-changelog');
      assert.equal(info.partitions.length, 2);
      assert.equal(info.config.cleanup, 'compact');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('appends more than the broker takes in one batch (message.max.bytes) as several batches', async () => {
    await log.createTopic('big-append', { partitions: 1 });
    const value = Buffer.alloc(100, 0x61);
    const records = Array.from({ length: 30_000 }, (_, i) => ({ key: b(`k${i}`), value }));
    const result = await log.append('big-append', 0, records);
    assert.deepEqual(result, { baseOffset: 0, nextOffset: 30_000 });
    let offset = 0;
    while (offset < 30_000) {
      const read = await log.read('big-append', 0, offset, { maxRecords: 10_000, maxBytes: 8 << 20 });
      assert.ok(read.length > 0);
      for (const r of read) assert.equal(r.key?.toString(), `k${r.offset}`);
      offset = read[read.length - 1].offset + 1;
    }
  });

  it('shows committed transactions and hides aborted ones from read_committed reads', async () => {
    await log.createTopic('txn', { partitions: 1 });
    const aborted = await log.beginTransaction();
    await aborted.append('txn', 0, [{ key: b('a'), value: b('aborted') }]);
    await aborted.abort();
    const committed = await log.beginTransaction();
    await committed.append('txn', 0, [{ key: b('c'), value: b('committed') }]);
    assert.deepEqual(await log.read('txn', 0, 0), [], 'nothing visible before the commit');
    await committed.commit();
    // commit() resolves once the outcome is decided; the broker writes the markers right after
    assert.ok(await log.waitForData('txn', 0, 0, 10_000), 'the committed record becomes visible');
    const visible = await log.read('txn', 0, 0);
    assert.deepEqual(
      visible.map((x) => x.value?.toString()),
      ['committed'],
    );
    // The markers and the aborted record take offsets; waitForData skips them.
    assert.equal(await log.waitForData('txn', 0, visible[0].offset + 1, 300), false);
  });

  it('readSpans reads what read reads, as byte spans, past aborted transactions and across fetches', async () => {
    await log.createTopic('spans', { partitions: 1 });
    const value = Buffer.alloc(100, 0x62);
    await log.append('spans', 0, [
      { key: b('first'), value: b('1') },
      { key: null, value: b('keyless') },
      { key: b('gone'), value: null },
    ]);
    const aborted = await log.beginTransaction();
    await aborted.append('spans', 0, [{ key: b('never'), value: b('aborted') }]);
    await aborted.abort();
    await log.append(
      'spans',
      0,
      Array.from({ length: 30_000 }, (_, i) => ({ key: b(`k${i}`), value })),
    );
    const end = await log.endOffset('spans', 0);
    const viaRead: [number, string | null, string | null][] = [];
    for (let at = 0; at < end; ) {
      const read = await log.read('spans', 0, at, { maxRecords: 7000, maxBytes: 1 << 20 });
      if (read.length === 0) break;
      for (const r of read) viaRead.push([r.offset, r.key?.toString() ?? null, r.value?.toString() ?? null]);
      at = read[read.length - 1].offset + 1;
    }
    const viaSpans: [number, string | null, string | null][] = [];
    let reads = 0;
    for (let at = 0; at < end; reads++) {
      const blocks = await log.readSpans('spans', 0, at, { maxRecords: 7000, maxBytes: 1 << 20 });
      if (blocks.length === 0) break;
      for (const x of blocks) {
        for (let i = 0; i < x.count; i++) {
          const key =
            x.keyLength[i] < 0 ? null : x.buf.toString('utf8', x.keyStart[i], x.keyStart[i] + x.keyLength[i]);
          const v =
            x.valueLength[i] < 0
              ? null
              : x.buf.toString('utf8', x.valueStart[i], x.valueStart[i] + x.valueLength[i]);
          viaSpans.push([x.offsets[i], key, v]);
        }
        at = x.offsets[x.count - 1] + 1;
      }
    }
    assert.equal(viaRead.length, 30_003);
    assert.deepEqual(viaSpans, viaRead);
    assert.ok(reads >= 5, `${reads} reads of at most 7000 records`);
    assert.deepEqual(await log.readSpans('spans', 0, end), []);
  });

  it("puts keyed records from Kafka's own Java client (default partitioner) on partitionForKey(key, n)", async () => {
    const partitions = 7;
    const count = 60;
    await log.createTopic('partitioner', { partitions });
    const root = new URL('..', import.meta.url).pathname;
    const lib = readdirSync(`${root}.kafka`).find((d) => d.startsWith('lib-'));
    assert.ok(lib, 'the Kafka jars are fetched by scripts/kafka');
    execFileSync(
      'java',
      [
        '-cp',
        `${root}.kafka/${lib}/*`,
        `${root}test-kafka/fixtures/KeyedProducer.java`,
        broker.bootstrap,
        'partitioner',
        String(count),
      ],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    let seen = 0;
    for (let p = 0; p < partitions; p++) {
      for (const r of await log.read('partitioner', p, 0)) {
        assert.equal(
          partitionForKey(r.key as Buffer, partitions),
          p,
          `key ${r.key?.toString()} on partition ${p}`,
        );
        seen++;
      }
    }
    assert.equal(seen, count);
  });
});
