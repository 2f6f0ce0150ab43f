import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import type { LogTransaction } from '../../src/log/types.js';
import {
  BACKGROUND_BYTES,
  BACKGROUND_RECORDS,
  LogChangelogSink,
} from '../../src/runtime/log-changelog-sink.js';
import { tempDir } from '../helpers/tmp.js';

const b = (s: string) => Buffer.from(s);

async function logWith(topic: string): Promise<MemoryLog> {
  const log = new MemoryLog();
  await log.createTopic(topic, { partitions: 1, cleanup: 'compact' });
  return log;
}

describe('LogChangelogSink', () => {
  it(`at-least-once, appends every ${BACKGROUND_RECORDS} records in the background; flush appends the rest after it`, async () => {
    const log = await logWith('c');
    const sink = new LogChangelogSink(log, 'c', 0, 0);
    for (let i = 0; i < BACKGROUND_RECORDS + 10; i++) sink.sendOne(b(`k${i}`), b(`v${i}`));
    assert.equal(sink.pendingCount, 10, 'the first records left the buffer without a flush');
    await new Promise((r) => setImmediate(r));
    assert.equal(await log.endOffset('c', 0), BACKGROUND_RECORDS, 'and reached the log before any commit');
    assert.equal(await sink.flush(), BACKGROUND_RECORDS + 9, 'flush: the offset of the last record');
    const read = await log.read('c', 0, 0, { maxRecords: 100_000 });
    assert.deepEqual(
      read.map((r) => r.key?.toString()),
      Array.from({ length: BACKGROUND_RECORDS + 10 }, (_, i) => `k${i}`),
      'every record, in order',
    );
    await log.close();
  });

  it(`encoding (the embedded log), appends once ${BACKGROUND_BYTES} bytes are pending, however few the records`, async (t) => {
    const log = await openEmbeddedLog({ dir: tempDir(t), fsync: 'os' });
    await log.createTopic('c', { partitions: 1, cleanup: 'compact' });
    const sink = new LogChangelogSink(log, 'c', 0, 0);
    const value = Buffer.alloc(4096, 1);
    const enough = Math.ceil(BACKGROUND_BYTES / value.length);
    for (let i = 0; i < enough + 3; i++) sink.sendOne(b(`k${i}`), value);
    assert.ok(enough < BACKGROUND_RECORDS);
    assert.equal(sink.pendingCount, 3, 'a full buffer left without a flush');
    assert.equal(await sink.flush(), enough + 2);
    assert.equal(await log.endOffset('c', 0), enough + 3);
    await log.close();
  });

  it('a failed background append fails the next flush (no commit covers lost records)', async () => {
    const log = await logWith('c');
    log.append = async () => {
      throw new Error('broker gone');
    };
    const sink = new LogChangelogSink(log, 'c', 0, 0);
    for (let i = 0; i < BACKGROUND_RECORDS; i++) sink.sendOne(b(`k${i}`), b('v'));
    await assert.rejects(sink.flush(), /broker gone/);
    await assert.rejects(sink.flush(), /broker gone/, 'and every flush after it');
    await log.close();
  });

  it('exactly-once, never appends outside the commit transaction', async () => {
    const log = await logWith('c');
    const sink = new LogChangelogSink(log, 'c', 0, 0, true);
    for (let i = 0; i < BACKGROUND_RECORDS * 2; i++) sink.sendOne(b(`k${i}`), b('v'));
    await new Promise((r) => setImmediate(r));
    assert.equal(sink.pendingCount, BACKGROUND_RECORDS * 2);
    assert.equal(await log.endOffset('c', 0), 0);
    const txn = (await log.beginTransaction?.()) as LogTransaction;
    sink.useTransaction(txn);
    assert.equal(await sink.flush(), BACKGROUND_RECORDS * 2 - 1);
    await txn.commit();
    assert.equal(await log.endOffset('c', 0), BACKGROUND_RECORDS * 2);
    await log.close();
  });
});
