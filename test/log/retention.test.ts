/** Retention of the embedded log (retention.ts): whole closed segments by age and by partition size. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { applyRetention } from '../../src/log/embedded/retention.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_700_000_000_000;

async function setup(t: { after(fn: () => Promise<void> | void): void }, config: Record<string, number>) {
  const log = await openEmbeddedLog({ dir: tempDir(t), fsync: 'os', cleaner: null });
  t.after(() => log.close());
  await log.createTopic('d', { partitions: 1, cleanup: 'delete', segmentBytes: 1024, ...config });
  // 200 records of ~60 bytes, one per ms of "time": about 12 segments.
  for (let i = 0; i < 200; i++) {
    await log.append('d', 0, [
      { key: Buffer.from(`k${i}`), value: Buffer.from('x'.repeat(40)), timestamp: T0 + i },
    ]);
  }
  return { log, part: log.partitionForCleaning('d', 0) };
}

describe('retention', () => {
  test('deletes the closed segments whose newest record is older than retentionMs', async (t) => {
    const { log, part } = await setup(t, { retentionMs: 100 });
    const before = part.listSegments();
    const r = await applyRetention(part, { retentionMs: 100, retentionBytes: -1 }, T0 + 200);
    assert.ok(r.segmentsDeleted > 0);
    const earliest = await log.earliestOffset('d', 0);
    assert.equal(earliest, r.earliestOffset);
    const kept = part.listSegments();
    assert.equal(kept[0].baseOffset, earliest);
    for (const s of before) {
      const old = s.maxTimestamp < T0 + 100 && !s.active;
      assert.equal(s.baseOffset < earliest, old, `segment ${s.baseOffset} deleted iff expired`);
    }
    const first = await log.read('d', 0, earliest, { maxRecords: 1 });
    assert.equal(first[0].offset, earliest);
    await assert.rejects(log.read('d', 0, 0), { code: 'EDDY_OFFSET_OUT_OF_RANGE' });
    assert.equal(await log.endOffset('d', 0), 200);
  });

  test('deletes the oldest segments while the partition is larger than retentionBytes', async (t) => {
    const { part } = await setup(t, { retentionMs: -1 });
    const total = part.listSegments().reduce((n, s) => n + s.size, 0);
    const r = await applyRetention(part, { retentionMs: -1, retentionBytes: 4000 }, T0 + 200);
    assert.ok(r.segmentsDeleted > 0);
    const after = part.listSegments().reduce((n, s) => n + s.size, 0);
    assert.equal(after, total - r.bytesDeleted);
    assert.ok(after <= 4000, `size ${after} within the limit`);
    assert.ok(after > 4000 - 1024, 'no more than one segment below the limit');
  });

  test('never deletes the active segment, however old', async (t) => {
    const { log, part } = await setup(t, { retentionMs: 1 });
    await applyRetention(part, { retentionMs: 1, retentionBytes: 0 }, T0 + 1_000_000);
    assert.equal(part.listSegments().length, 1);
    const rest = await log.read('d', 0, await log.earliestOffset('d', 0));
    assert.equal(rest.at(-1)?.offset, 199);
  });

  test('the log applies retention after segment rolls with the default cleaner', async (t) => {
    const log = await openEmbeddedLog({ dir: tempDir(t), fsync: 'os', now: () => T0 + 10_000 });
    t.after(() => log.close());
    await log.createTopic('d', { partitions: 1, cleanup: 'delete', segmentBytes: 1024, retentionMs: 1000 });
    for (let i = 0; i < 100; i++) {
      await log.append('d', 0, [{ value: Buffer.from('y'.repeat(40)), timestamp: T0 + i }]);
    }
    await log.scheduleCleanupAll();
    assert.equal(
      log.partitionForCleaning('d', 0).listSegments().length,
      1,
      'only the active segment is left',
    );
    assert.ok((await log.earliestOffset('d', 0)) > 0);
  });
});
