/**
 * The log conformance suite: every `Log` backend (embedded, memory, Kafka) runs it through a
 * one-line test file, `logSuite({ name, open, supports })`.
 *
 * - `open()` makes a fresh, empty log; the suite shares one log across most tests and closes it at
 *   the end, and opens short-lived extra ones only for the close tests. The factory owns cleanup of
 *   whatever it creates (directories, brokers).
 * - Optional features are gated on `supports` (declared by the factory and checked against the
 *   log's own `supports`), never on the backend's name; a skipped test says why. A backend can skip
 *   single tests by name with a reason (`skip: [{ reason, tests }]`).
 * - Kafka-safe: every test uses its own topic name; topic creation and deletion, and a committed
 *   transaction's records on Kafka, may become visible eventually (`eventually` retries the check
 *   until `settleMs`); no test depends on timing tighter than `waitForData`'s own timeouts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it as nodeIt, type TestContext } from 'node:test';
import { Producer } from '../../src/log/producer.js';
import type { AppendRecord, Log, LogRecord, LogSupports } from '../../src/log/types.js';
import { partitionForKey } from '../../src/util/murmur2.js';

export interface LogSuiteOptions {
  name: string;
  /** A fresh, empty log. */
  open: () => Promise<Log>;
  /** What the backend is expected to support (the suite checks the log agrees). */
  supports: LogSupports;
  /** How long eventually-visible effects (topic creation, deletion) may take; default 10 s. */
  settleMs?: number;
  /** Tests this backend skips, by exact name, each group with its reason. */
  skip?: readonly { reason: string; tests: readonly string[] }[];
}

let topicCounter = 0;

/** A topic name unique to this run and test. */
export function uniqueTopic(label: string): string {
  topicCounter++;
  return `t-${label}-${process.pid}-${Date.now().toString(36)}-${topicCounter}`;
}

const b = (s: string): Buffer => Buffer.from(s);

/** Reads a partition from `from` to its end offset, in as many reads as it takes. */
export async function readAll(log: Log, topic: string, partition: number, from = 0): Promise<LogRecord[]> {
  const end = await log.endOffset(topic, partition);
  const out: LogRecord[] = [];
  let offset = from;
  while (offset < end) {
    const batch = await log.read(topic, partition, offset, { maxRecords: 500 });
    if (batch.length === 0) break;
    out.push(...batch);
    offset = batch[batch.length - 1].offset + 1;
  }
  return out;
}

function records(n: number, prefix = 'r'): AppendRecord[] {
  return Array.from({ length: n }, (_, i) => ({ key: b(`${prefix}-k${i}`), value: b(`${prefix}-v${i}`) }));
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal((err as { code?: string }).code, code, `expected ${code}, got ${String(err)}`);
    return true;
  });
}

export function logSuite(options: LogSuiteOptions): void {
  const settleMs = options.settleMs ?? 10_000;
  const sup = options.supports;
  const skipped = new Map<string, string>();
  for (const group of options.skip ?? []) for (const name of group.tests) skipped.set(name, group.reason);
  /** `it`, unless the backend skips this test (with its reason). */
  const it = (name: string, fn: (t: TestContext) => Promise<void> | void): void => {
    const reason = skipped.get(name);
    if (reason !== undefined) nodeIt(name, { skip: reason }, fn);
    else nodeIt(name, fn);
  };

  async function eventually(check: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + settleMs;
    for (;;) {
      try {
        await check();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  describe(`the ${options.name} log (conformance suite)`, () => {
    let log: Log;
    before(async () => {
      log = await options.open();
    });
    after(async () => {
      await log?.close();
    });

    it('declares the capabilities the factory expects', () => {
      assert.deepEqual({ ...log.supports }, { ...sup });
    });

    describe('topics', () => {
      it('creates a topic with the defaults and describes it with empty partitions', async () => {
        const t = uniqueTopic('create');
        const info = await log.createTopic(t, { partitions: 3 });
        assert.equal(info.name, t);
        assert.equal(info.config.partitions, 3);
        assert.equal(info.config.cleanup, 'delete');
        await eventually(async () => {
          const d = await log.describeTopic(t);
          assert.deepEqual(
            d.partitions.map((p) => [p.partition, p.earliestOffset, p.endOffset]),
            [
              [0, 0, 0],
              [1, 0, 0],
              [2, 0, 0],
            ],
          );
        });
        await eventually(async () => assert.ok((await log.listTopics()).includes(t)));
      });

      it('stores and describes a compacted topic config', async () => {
        const t = uniqueTopic('compact');
        await log.createTopic(t, { partitions: 1, cleanup: 'compact', segmentBytes: 1024 * 1024 });
        await eventually(async () => {
          const d = await log.describeTopic(t);
          assert.equal(d.config.cleanup, 'compact');
        });
      });

      it('rejects creating a topic twice with EDDY_TOPIC_EXISTS', async () => {
        const t = uniqueTopic('twice');
        await log.createTopic(t, { partitions: 1 });
        await rejectsWithCode(log.createTopic(t, { partitions: 1 }), 'EDDY_TOPIC_EXISTS');
      });

      it('rejects a bad config with EDDY_INVALID_CONFIG and a bad name with EDDY_INVALID_ARGUMENT', async () => {
        await rejectsWithCode(log.createTopic(uniqueTopic('bad'), { partitions: 0 }), 'EDDY_INVALID_CONFIG');
        await rejectsWithCode(log.createTopic('no/slash', { partitions: 1 }), 'EDDY_INVALID_ARGUMENT');
      });

      it('rejects describing, appending to and reading an unknown topic with EDDY_UNKNOWN_TOPIC', async () => {
        const t = uniqueTopic('missing');
        await rejectsWithCode(log.describeTopic(t), 'EDDY_UNKNOWN_TOPIC');
        await rejectsWithCode(log.append(t, 0, records(1)), 'EDDY_UNKNOWN_TOPIC');
        await rejectsWithCode(log.read(t, 0, 0), 'EDDY_UNKNOWN_TOPIC');
      });

      it('deletes a topic', async () => {
        const t = uniqueTopic('delete');
        await log.createTopic(t, { partitions: 2 });
        await log.append(t, 0, records(3));
        await log.deleteTopic(t);
        await eventually(async () => assert.ok(!(await log.listTopics()).includes(t)));
        await rejectsWithCode(log.describeTopic(t), 'EDDY_UNKNOWN_TOPIC');
        await rejectsWithCode(log.deleteTopic(t), 'EDDY_UNKNOWN_TOPIC');
      });

      it('ensureTopic creates a missing topic and accepts a matching one', async () => {
        const t = uniqueTopic('ensure');
        await log.ensureTopic(t, { partitions: 2, cleanup: 'compact' });
        const again = await log.ensureTopic(t, { partitions: 2, cleanup: 'compact' });
        assert.equal(again.config.partitions, 2);
      });

      it('ensureTopic rejects a different partition count or cleanup with EDDY_TOPIC_MISMATCH', async () => {
        const t = uniqueTopic('mismatch');
        await log.ensureTopic(t, { partitions: 2 });
        await eventually(async () => void (await log.describeTopic(t)));
        await rejectsWithCode(log.ensureTopic(t, { partitions: 3 }), 'EDDY_TOPIC_MISMATCH');
        await rejectsWithCode(
          log.ensureTopic(t, { partitions: 2, cleanup: 'compact' }),
          'EDDY_TOPIC_MISMATCH',
        );
      });
    });

    describe('append and read', () => {
      it('assigns consecutive offsets from 0 and reads the records back in order', async () => {
        const t = uniqueTopic('offsets');
        await log.createTopic(t, { partitions: 2 });
        const r1 = await log.append(t, 1, records(3, 'a'));
        const r2 = await log.append(t, 1, records(2, 'b'));
        assert.deepEqual({ ...r1 }, { baseOffset: 0, nextOffset: 3 });
        assert.deepEqual({ ...r2 }, { baseOffset: 3, nextOffset: 5 });
        assert.equal(await log.endOffset(t, 1), 5);
        assert.equal(await log.endOffset(t, 0), 0);
        assert.equal(await log.earliestOffset(t, 1), 0);
        const got = await log.read(t, 1, 0);
        assert.deepEqual(
          got.map((r) => [r.offset, r.key?.toString(), r.value?.toString()]),
          [
            [0, 'a-k0', 'a-v0'],
            [1, 'a-k1', 'a-v1'],
            [2, 'a-k2', 'a-v2'],
            [3, 'b-k0', 'b-v0'],
            [4, 'b-k1', 'b-v1'],
          ],
        );
        const mid = await log.read(t, 1, 2);
        assert.deepEqual(
          mid.map((r) => r.offset),
          [2, 3, 4],
        );
      });

      it('accepts an empty append without changing the end offset', async () => {
        const t = uniqueTopic('empty');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, records(2));
        const r = await log.append(t, 0, []);
        assert.equal(r.baseOffset, 2);
        assert.equal(r.nextOffset, 2);
        assert.equal(await log.endOffset(t, 0), 2);
      });

      it('reads [] at the end offset and rejects offsets outside [earliest, end] with EDDY_OFFSET_OUT_OF_RANGE', async () => {
        const t = uniqueTopic('range');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, records(4));
        assert.deepEqual(await log.read(t, 0, 4), []);
        await rejectsWithCode(log.read(t, 0, 5), 'EDDY_OFFSET_OUT_OF_RANGE');
        await rejectsWithCode(log.read(t, 0, -1), 'EDDY_OFFSET_OUT_OF_RANGE');
      });

      it('rejects a partition outside the topic with EDDY_UNKNOWN_PARTITION', async () => {
        const t = uniqueTopic('partition');
        await log.createTopic(t, { partitions: 2 });
        await rejectsWithCode(log.append(t, 2, records(1)), 'EDDY_UNKNOWN_PARTITION');
        await rejectsWithCode(log.read(t, -1, 0), 'EDDY_UNKNOWN_PARTITION');
        await rejectsWithCode(log.endOffset(t, 5), 'EDDY_UNKNOWN_PARTITION');
      });

      it('keeps records of many appends contiguous across reads', async () => {
        const t = uniqueTopic('many');
        await log.createTopic(t, { partitions: 1 });
        for (let i = 0; i < 40; i++) await log.append(t, 0, records(25, `x${i}`));
        const all = await readAll(log, t, 0);
        assert.equal(all.length, 1000);
        assert.deepEqual(
          all.map((r) => r.offset),
          all.map((_, i) => i),
        );
        assert.equal(all[537].value?.toString(), 'x21-v12');
      });

      it('returns at most maxRecords records', async () => {
        const t = uniqueTopic('max-records');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, records(50));
        const got = await log.read(t, 0, 10, { maxRecords: 7 });
        assert.deepEqual(
          got.map((r) => r.offset),
          [10, 11, 12, 13, 14, 15, 16],
        );
      });

      it('keeps within about maxBytes, but always returns at least one record', async () => {
        const t = uniqueTopic('max-bytes');
        await log.createTopic(t, { partitions: 1 });
        const big = Buffer.alloc(1000, 7);
        await log.append(
          t,
          0,
          Array.from({ length: 50 }, () => ({ key: null, value: big })),
        );
        const one = await log.read(t, 0, 3, { maxBytes: 1 });
        assert.equal(one.length, 1);
        assert.equal(one[0].offset, 3);
        assert.equal(one[0].value?.length, 1000);
        const some = await log.read(t, 0, 0, { maxBytes: 10_000 });
        assert.ok(some.length >= 1 && some.length <= 11, `got ${some.length} records`);
        assert.deepEqual(
          some.map((r) => r.offset),
          some.map((_, i) => i),
        );
      });

      it('keeps null keys and tombstones (null values)', async () => {
        const t = uniqueTopic('nulls');
        // A delete-topic: Kafka refuses keyless records in compacted topics.
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, [
          { key: null, value: b('no key') },
          { key: b('gone'), value: null },
          { value: b('key omitted') },
          { key: b(''), value: b('') },
        ]);
        const got = await log.read(t, 0, 0);
        assert.equal(got[0].key, null);
        assert.equal(got[0].value?.toString(), 'no key');
        assert.equal(got[1].key?.toString(), 'gone');
        assert.equal(got[1].value, null);
        assert.equal(got[2].key, null);
        assert.equal(got[3].key?.length, 0);
        assert.equal(got[3].value?.length, 0);
      });

      it('keeps headers, and reads a record without headers as {}', async () => {
        const t = uniqueTopic('headers');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, [
          {
            key: b('k'),
            value: b('v'),
            headers: { trace: b('abc'), 'content-type': b('json'), empty: b('') },
          },
          { key: b('k2'), value: b('v2') },
        ]);
        const [withHeaders, without] = await log.read(t, 0, 0);
        assert.deepEqual(
          Object.fromEntries(Object.entries(withHeaders.headers).map(([k, v]) => [k, v.toString()])),
          { trace: 'abc', 'content-type': 'json', empty: '' },
        );
        assert.deepEqual({ ...without.headers }, {});
      });

      it("keeps the producer's timestamps and stamps the others with the append time", async () => {
        const t = uniqueTopic('timestamps');
        await log.createTopic(t, { partitions: 1 });
        const before = Date.now();
        await log.append(t, 0, [{ value: b('a'), timestamp: 1_600_000_000_123 }, { value: b('b') }]);
        const afterTs = Date.now();
        const [a, c] = await log.read(t, 0, 0);
        assert.equal(a.timestamp, 1_600_000_000_123);
        assert.ok(c.timestamp >= before - 1000 && c.timestamp <= afterTs + 1000, `timestamp ${c.timestamp}`);
      });

      it('returns records that do not change when the caller reuses its buffers', async () => {
        const t = uniqueTopic('copy');
        await log.createTopic(t, { partitions: 1 });
        const value = b('original');
        await log.append(t, 0, [{ key: null, value }]);
        value.write('CHANGED!');
        const [r] = await log.read(t, 0, 0);
        assert.equal(r.value?.toString(), 'original');
      });
    });

    describe('waitForData', () => {
      it('resolves true at once when a record at the offset exists', async () => {
        const t = uniqueTopic('wait-now');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, records(2));
        assert.equal(await log.waitForData(t, 0, 1, 5000), true);
      });

      it('resolves true when a later append reaches the offset', async () => {
        const t = uniqueTopic('wait-append');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, records(1));
        const waiting = log.waitForData(t, 0, 1, 10_000);
        await new Promise((r) => setTimeout(r, 20));
        await log.append(t, 0, records(1));
        assert.equal(await waiting, true);
      });

      it('resolves false after the timeout when nothing comes', async () => {
        const t = uniqueTopic('wait-timeout');
        await log.createTopic(t, { partitions: 1 });
        const start = Date.now();
        assert.equal(await log.waitForData(t, 0, 0, 100), false);
        assert.ok(Date.now() - start >= 90);
      });

      it('resolves false when its signal aborts, or was aborted already', async () => {
        const t = uniqueTopic('wait-abort');
        await log.createTopic(t, { partitions: 1 });
        const ac = new AbortController();
        const waiting = log.waitForData(t, 0, 0, 60_000, ac.signal);
        setTimeout(() => ac.abort(), 20);
        const start = Date.now();
        assert.equal(await waiting, false);
        assert.ok(Date.now() - start < 10_000);
        assert.equal(await log.waitForData(t, 0, 0, 60_000, AbortSignal.abort()), false);
      });
    });

    describe('the producer', () => {
      it('sends the same key to the same partition, the one partitionForKey names', async () => {
        const t = uniqueTopic('producer-keys');
        await log.createTopic(t, { partitions: 4 });
        const producer = new Producer(log);
        for (let i = 0; i < 200; i++) producer.send(t, { key: b(`key-${i % 20}`), value: b(String(i)) });
        await producer.flush();
        const seen = new Map<string, Set<number>>();
        let total = 0;
        for (let p = 0; p < 4; p++) {
          for (const r of await readAll(log, t, p)) {
            const k = r.key!.toString();
            if (!seen.has(k)) seen.set(k, new Set());
            seen.get(k)!.add(p);
            assert.equal(p, partitionForKey(r.key!, 4), `key ${k}`);
            total++;
          }
        }
        assert.equal(total, 200);
        for (const [k, ps] of seen) assert.equal(ps.size, 1, `key ${k} went to ${[...ps]}`);
      });

      it('keeps the order of one key and spreads null keys over every partition', async () => {
        const t = uniqueTopic('producer-order');
        await log.createTopic(t, { partitions: 3 });
        const producer = new Producer(log, { batchSize: 7 });
        producer.sendBatch(
          t,
          Array.from({ length: 100 }, (_, i) => ({ key: b('same'), value: b(String(i)) })),
        );
        producer.sendBatch(
          t,
          Array.from({ length: 30 }, (_, i) => ({ key: null, value: b(`n${i}`) })),
        );
        producer.send(t, { key: b('same'), value: b('pinned'), partition: 2 });
        await producer.flush();
        const p = partitionForKey(b('same'), 3);
        const sameValues = (await readAll(log, t, p)).filter((r) => r.key?.toString() === 'same');
        assert.deepEqual(
          sameValues.slice(0, 100).map((r) => r.value?.toString()),
          Array.from({ length: 100 }, (_, i) => String(i)),
        );
        for (let q = 0; q < 3; q++) {
          const nulls = (await readAll(log, t, q)).filter((r) => r.key === null);
          assert.equal(nulls.length, 10, `partition ${q}`);
        }
        assert.ok((await readAll(log, t, 2)).some((r) => r.value?.toString() === 'pinned'));
      });

      it('reports an unknown topic from flush', async () => {
        const producer = new Producer(log);
        producer.send(uniqueTopic('producer-missing'), { key: null, value: b('x') });
        await rejectsWithCode(producer.flush(), 'EDDY_UNKNOWN_TOPIC');
      });
    });

    describe('truncate', {
      skip: sup.truncate ? false : 'the backend cannot truncate (supports.truncate)',
    }, () => {
      it('removes the records at and after the offset, and the next append reuses it', async () => {
        const t = uniqueTopic('truncate');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, records(10, 'a'));
        await log.append(t, 0, records(10, 'b'));
        await log.truncate!(t, 0, 13);
        assert.equal(await log.endOffset(t, 0), 13);
        const r = await log.append(t, 0, records(2, 'c'));
        assert.equal(r.baseOffset, 13);
        const all = await readAll(log, t, 0);
        assert.deepEqual(
          all.slice(9).map((x) => x.value?.toString()),
          ['a-v9', 'b-v0', 'b-v1', 'b-v2', 'c-v0', 'c-v1'],
        );
        await log.truncate!(t, 0, 0);
        assert.equal(await log.endOffset(t, 0), 0);
        assert.deepEqual(await log.read(t, 0, 0), []);
      });

      it('rejects an offset beyond the end with EDDY_OFFSET_OUT_OF_RANGE', async () => {
        const t = uniqueTopic('truncate-range');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, records(3));
        await rejectsWithCode(log.truncate!(t, 0, 4), 'EDDY_OFFSET_OUT_OF_RANGE');
      });
    });

    describe('transactions', {
      skip: sup.transactions ? false : 'the backend has no transactions (supports.transactions)',
    }, () => {
      it('keeps appended records invisible until commit, then shows them all', async () => {
        const t = uniqueTopic('txn-commit');
        await log.createTopic(t, { partitions: 2 });
        await log.append(t, 0, records(2, 'before'));
        const txn = await log.beginTransaction!();
        const r0 = await txn.append(t, 0, records(3, 'in'));
        const r1 = await txn.append(t, 1, records(1, 'in'));
        assert.equal(r0.baseOffset, 2);
        assert.equal(r1.baseOffset, 0);
        assert.equal(await log.endOffset(t, 0), 2);
        assert.equal((await log.read(t, 0, 0)).length, 2);
        assert.deepEqual(await log.read(t, 1, 0), []);
        await txn.commit();
        // Kafka's commit marker takes an offset too (see types.ts): at least, not exactly.
        assert.ok((await log.endOffset(t, 0)) >= 5);
        assert.ok((await log.endOffset(t, 1)) >= 1);
        const read0 = await readAll(log, t, 0);
        assert.deepEqual(
          read0.map((r) => [r.offset, r.value?.toString()]),
          [
            [0, 'before-v0'],
            [1, 'before-v1'],
            [2, 'in-v0'],
            [3, 'in-v1'],
            [4, 'in-v2'],
          ],
        );
        assert.deepEqual(
          (await readAll(log, t, 1)).map((r) => r.value?.toString()),
          ['in-v0'],
        );
      });

      it('discards every record of an aborted transaction', async () => {
        const t = uniqueTopic('txn-abort');
        await log.createTopic(t, { partitions: 1 });
        await log.append(t, 0, records(2, 'keep'));
        const txn = await log.beginTransaction!();
        await txn.append(t, 0, records(5, 'drop'));
        await txn.abort();
        // The embedded and memory logs reuse the offsets; Kafka keeps them (invisible) with a marker.
        const r = await log.append(t, 0, records(1, 'next'));
        assert.ok(r.baseOffset >= 2);
        assert.deepEqual(
          (await readAll(log, t, 0)).map((x) => x.value?.toString()),
          ['keep-v0', 'keep-v1', 'next-v0'],
        );
      });

      it('wakes waitForData on commit, not on the transactional append', async () => {
        const t = uniqueTopic('txn-wait');
        await log.createTopic(t, { partitions: 1 });
        const txn = await log.beginTransaction!();
        await txn.append(t, 0, records(1));
        assert.equal(await log.waitForData(t, 0, 0, 50), false);
        const waiting = log.waitForData(t, 0, 0, 10_000);
        await txn.commit();
        assert.equal(await waiting, true);
      });

      it('rejects a second transaction and calls after it ended', async () => {
        const t = uniqueTopic('txn-rules');
        await log.createTopic(t, { partitions: 2 });
        const txn = await log.beginTransaction!();
        await txn.append(t, 0, records(1));
        await rejectsWithCode(log.beginTransaction!(), 'EDDY_INVALID_ARGUMENT');
        await txn.commit();
        await rejectsWithCode(txn.append(t, 0, records(1)), 'EDDY_INVALID_ARGUMENT');
        await rejectsWithCode(txn.commit(), 'EDDY_INVALID_ARGUMENT');
        await log.append(t, 0, records(1));
        // on Kafka the commit markers land just after commit() resolves (transaction.ts)
        await eventually(async () => assert.equal((await readAll(log, t, 0)).length, 2));
      });

      it('rejects plain appends to a partition the open transaction wrote, not to others', async () => {
        const t = uniqueTopic('txn-plain');
        await log.createTopic(t, { partitions: 2 });
        const txn = await log.beginTransaction!();
        await txn.append(t, 0, records(1));
        await rejectsWithCode(log.append(t, 0, records(1)), 'EDDY_INVALID_ARGUMENT');
        await log.append(t, 1, records(1));
        await txn.abort();
        assert.deepEqual(await readAll(log, t, 0), []);
        assert.equal((await readAll(log, t, 1)).length, 1);
      });
    });

    describe('close', () => {
      it('is idempotent, and every later call rejects with EDDY_LOG_CLOSED', async () => {
        const other = await options.open();
        const t = uniqueTopic('close');
        await other.createTopic(t, { partitions: 1 });
        await other.append(t, 0, records(1));
        await other.flush();
        await other.close();
        await other.close();
        await rejectsWithCode(other.append(t, 0, records(1)), 'EDDY_LOG_CLOSED');
        await rejectsWithCode(other.read(t, 0, 0), 'EDDY_LOG_CLOSED');
        await rejectsWithCode(other.listTopics(), 'EDDY_LOG_CLOSED');
        await rejectsWithCode(other.createTopic(uniqueTopic('closed'), { partitions: 1 }), 'EDDY_LOG_CLOSED');
        await rejectsWithCode(other.flush(), 'EDDY_LOG_CLOSED');
        await rejectsWithCode(other.waitForData(t, 0, 0, 10), 'EDDY_LOG_CLOSED');
      });
    });
  });
}
