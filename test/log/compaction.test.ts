/** Compaction of the embedded log (compactor.ts): latest per key, offsets kept, tombstones, gaps, concurrency. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import {
  COMPACTION_HOLD_FILE,
  compactPartition,
  dirtyRatio,
  readCleanerCheckpoint,
} from '../../src/log/embedded/compactor.js';
import { createDefaultCleaner } from '../../src/log/embedded/default-cleaner.js';
import { type EmbeddedLog, openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { LogRecord } from '../../src/log/types.js';
import { tempDir } from '../helpers/tmp.js';

/** CPU ms of this process's main thread (Linux: /proc/self/task/PID/stat), else undefined. */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks (USER_HZ 100)
  } catch {
    return undefined;
  }
}

const T0 = 1_700_000_000_000;
const CONFIG = { partitions: 1, cleanup: 'compact' as const, segmentBytes: 2048, deleteRetentionMs: 1000 };

async function open(
  t: { after(fn: () => Promise<void>): void },
  dir: string,
  options = {},
): Promise<EmbeddedLog> {
  const log = await openEmbeddedLog({ dir, fsync: 'os', cleaner: null, ...options });
  t.after(() => log.close());
  return log;
}

async function readAll(log: EmbeddedLog, topic: string, from?: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let at = from ?? (await log.earliestOffset(topic, 0));
  const end = await log.endOffset(topic, 0);
  while (at < end) {
    const batch = await log.read(topic, 0, at, { maxRecords: 100 });
    if (batch.length === 0) break;
    out.push(...batch);
    at = batch[batch.length - 1].offset + 1;
  }
  return out;
}

/** Appends `n` single-record batches: key `k<i % keys>`, value `v<i>`; returns the expected latest map. */
async function fill(
  log: EmbeddedLog,
  topic: string,
  n: number,
  keys: number,
  start = 0,
): Promise<Map<string, { offset: number; value: string }>> {
  const latest = new Map<string, { offset: number; value: string }>();
  for (let i = start; i < start + n; i++) {
    const key = `k${i % keys}`;
    const r = await log.append(topic, 0, [
      { key: Buffer.from(key), value: Buffer.from(`v${i}`), timestamp: T0 + i },
    ]);
    latest.set(key, { offset: r.baseOffset, value: `v${i}` });
  }
  return latest;
}

describe('compaction', () => {
  test('keeps the latest record of every key at its offset, and reads seek across the gaps', async (t) => {
    const log = await open(t, tempDir(t));
    await log.createTopic('c', CONFIG);
    const latest = await fill(log, 'c', 600, 20);
    const part = log.partitionForCleaning('c', 0);
    const segmentsBefore = part.listSegments().map((s) => [s.baseOffset, s.nextOffset]);
    assert.ok(segmentsBefore.length > 5, 'several segments');
    const activeBase = part.listSegments().at(-1)!.baseOffset;

    const result = await compactPartition(part, CONFIG, { now: T0 + 600 });
    assert.ok(result.segmentsCleaned > 0);
    assert.ok(result.recordsKept < result.recordsRead);
    assert.equal(result.keysMapped, 20);

    const after = await readAll(log, 'c');
    const seen = new Map<string, number>();
    const closedKeys = new Set<string>();
    let prev = -1;
    for (const r of after) {
      assert.ok(r.offset > prev, 'offsets increase');
      prev = r.offset;
      const key = r.key!.toString();
      assert.equal(r.value!.toString(), `v${r.offset}`, 'a survivor keeps its offset and value');
      if (r.offset < activeBase) {
        // The active segment is never mapped: a closed segment keeps the latest copy among the closed ones.
        assert.ok(!closedKeys.has(key), `at most one ${key} in the closed segments`);
        closedKeys.add(key);
      }
      seen.set(key, r.offset);
    }
    for (const [key, { offset }] of latest)
      assert.equal(seen.get(key), offset, `latest ${key} readable at its offset`);
    assert.equal(await log.earliestOffset('c', 0), 0, 'compaction does not move the earliest offset');
    assert.equal(await log.endOffset('c', 0), 600);
    // Reading from any offset (a removed one too) starts at the first survivor at or after it.
    const survivors = after.map((r) => r.offset);
    for (let o = 0; o < 600; o += 7) {
      const got = await log.read('c', 0, o, { maxRecords: 1 });
      assert.equal(
        got[0]?.offset,
        survivors.find((s) => s >= o),
        `read from ${o}`,
      );
    }
    // Segment boundaries stay where they were (each group ends where its last input segment ended).
    const bases = new Set(part.listSegments().map((s) => s.baseOffset));
    for (const [base] of segmentsBefore) if (base >= activeBase) assert.ok(bases.has(base));
    assert.deepEqual(
      readdirSync(part.dir).filter((f) => f.endsWith('.cleaned') || f === 'swap.json'),
      [],
      'no temporary files left',
    );
  });

  test('survives reopening, and a second pass without new data changes nothing', async (t) => {
    const dir = tempDir(t);
    let log = await openEmbeddedLog({ dir, fsync: 'os', cleaner: null });
    await log.createTopic('c', CONFIG);
    const latest = await fill(log, 'c', 300, 10);
    await compactPartition(log.partitionForCleaning('c', 0), CONFIG, { now: T0 });
    const first = await readAll(log, 'c');
    const again = await compactPartition(log.partitionForCleaning('c', 0), CONFIG, { now: T0 });
    assert.equal(again.recordsKept, again.recordsRead, 'nothing more to drop');
    await log.close();
    log = await open(t, dir);
    const reopened = await readAll(log, 'c');
    assert.deepEqual(
      reopened.map((r) => [r.offset, r.key!.toString(), r.value!.toString()]),
      first.map((r) => [r.offset, r.key!.toString(), r.value!.toString()]),
    );
    for (const [key, { offset }] of latest)
      assert.ok(reopened.some((r) => r.offset === offset && r.key!.toString() === key));
  });

  test('drops tombstones only after deleteRetentionMs', async (t) => {
    const log = await open(t, tempDir(t));
    await log.createTopic('c', CONFIG);
    await log.append('c', 0, [
      { key: Buffer.from('gone'), value: Buffer.from('x'.repeat(100)), timestamp: T0 },
    ]);
    const tomb = await log.append('c', 0, [{ key: Buffer.from('gone'), value: null, timestamp: T0 + 10 }]);
    await fill(log, 'c', 200, 5, 1000); // other keys, enough to roll several segments
    const part = log.partitionForCleaning('c', 0);

    await compactPartition(part, CONFIG, { now: T0 + 10 + 999 });
    let recs = (await readAll(log, 'c')).filter((r) => r.key!.toString() === 'gone');
    assert.deepEqual(
      recs.map((r) => [r.offset, r.value]),
      [[tomb.baseOffset, null]],
      'the old value is gone, the young tombstone stays',
    );
    assert.equal(readCleanerCheckpoint(part).tombstoneExpiresAt, T0 + 10 + 1000);

    const r = await compactPartition(part, CONFIG, { now: T0 + 10 + 1001 });
    assert.equal(r.tombstonesDropped, 1);
    recs = (await readAll(log, 'c')).filter((x) => x.key!.toString() === 'gone');
    assert.deepEqual(recs, [], 'the expired tombstone is dropped');
  });

  test('appends and reads keep working while a pass runs', async (t) => {
    const log = await open(t, tempDir(t));
    const config = { ...CONFIG, segmentBytes: 8192 };
    await log.createTopic('c', config);
    const latest = await fill(log, 'c', 3000, 50);
    const part = log.partitionForCleaning('c', 0);
    let appendsDuring = 0;
    let done = false;
    const pass = compactPartition(part, config, { now: T0 }).finally(() => (done = true));
    let i = 3000;
    while (!done) {
      await setImmediate(); // let the pass run between appends (an append alone never yields a macrotask)
      const key = `k${i % 50}`;
      const r = await log.append('c', 0, [
        { key: Buffer.from(key), value: Buffer.from(`v${i}`), timestamp: T0 + i },
      ]);
      latest.set(key, { offset: r.baseOffset, value: `v${i}` });
      await log.read('c', 0, 0, { maxRecords: 10 });
      appendsDuring++;
      i++;
    }
    const result = await pass;
    assert.ok(result.segmentsCleaned > 0);
    assert.ok(appendsDuring > 1, `the pass yielded to appends (${appendsDuring} appends ran during it)`);
    const all = await readAll(log, 'c');
    const lastByKey = new Map<string, LogRecord>();
    for (const r of all) lastByKey.set(r.key!.toString(), r);
    for (const [key, { offset, value }] of latest) {
      assert.equal(lastByKey.get(key)?.offset, offset);
      assert.equal(lastByKey.get(key)?.value?.toString(), value);
    }
  });

  test('a pass reads and rewrites on the compaction thread, not on the main thread', async (t) => {
    if (mainThreadCpuMs() === undefined) {
      t.skip("needs /proc/self/task (Linux) to read the main thread's CPU");
      return;
    }
    const log = await open(t, tempDir(t));
    const config = { ...CONFIG, segmentBytes: 1024 * 1024 };
    await log.createTopic('c', config);
    const value = Buffer.alloc(100, 0x61);
    for (let b = 0; b < 60; b++) {
      const records = [];
      for (let i = 0; i < 1000; i++) records.push({ key: Buffer.from(`k${(b * 1000 + i) % 20_000}`), value });
      await log.append('c', 0, records);
    }
    // A first pass on a small topic starts the compaction thread (loading its modules), so the pass
    // measured below is the pass alone.
    await log.createTopic('warm', config);
    const big = Buffer.alloc(400 * 1024, 0x62);
    for (let b = 0; b < 6; b++) await log.append('warm', 0, [{ key: Buffer.from('k'), value: big }]);
    const warm = await compactPartition(log.partitionForCleaning('warm', 0), config, { now: T0 });
    assert.ok(warm.segmentsCleaned > 0);
    const part = log.partitionForCleaning('c', 0);
    const mainBefore = mainThreadCpuMs() as number;
    const processBefore = process.cpuUsage();
    const result = await compactPartition(part, config, { now: T0 });
    const mainMs = (mainThreadCpuMs() as number) - mainBefore;
    const used = process.cpuUsage(processBefore);
    const processMs = (used.user + used.system) / 1000;
    assert.equal(
      result.recordsRead,
      60_000 - ((await log.endOffset('c', 0)) - part.listSegments().at(-1)!.baseOffset),
    );
    assert.equal(result.recordsKept, 20_000);
    // CPU time, not the event loop's busy share (a loaded machine stretches the main thread's short
    // hand-overs into a large share of a long pass): decoding and rewriting 60k records costs the
    // thread that does it most of the pass's CPU; the main thread only plans, swaps files and hands
    // requests over. Were the work on the main thread, it would have nearly all of the process's.
    assert.ok(
      mainMs < 0.5 * processMs,
      `the main thread used ${mainMs.toFixed(0)} of the process's ${processMs.toFixed(0)} CPU ms during the pass`,
    );
  });

  test('an aborted pass stops on the compaction thread and leaves the partition as it was', async (t) => {
    const dir = tempDir(t);
    const log = await openEmbeddedLog({ dir, fsync: 'os', cleaner: null });
    const config = { ...CONFIG, segmentBytes: 64 * 1024 };
    await log.createTopic('c', config);
    const latest = await fill(log, 'c', 20_000, 500);
    const part = log.partitionForCleaning('c', 0);
    const controller = new AbortController();
    const pass = compactPartition(part, config, { now: T0, signal: controller.signal });
    await setImmediate(); // the map request is on its way to the thread
    controller.abort();
    await assert.rejects(pass, { name: 'AbortedError' });
    await log.close();
    const reopened = await open(t, dir);
    const lastByKey = new Map<string, LogRecord>();
    for (const r of await readAll(reopened, 'c')) lastByKey.set(r.key!.toString(), r);
    for (const [key, { offset, value }] of latest) {
      assert.equal(lastByKey.get(key)?.offset, offset);
      assert.equal(lastByKey.get(key)?.value?.toString(), value);
    }
    assert.deepEqual(
      readdirSync(`${dir}/topics/c/0`).filter((f) => f.endsWith('.cleaned')),
      [],
      'no cleaned leftovers after reopening',
    );
  });

  test('a bounded key map cleans part of the log per pass and the next pass continues', async (t) => {
    const log = await open(t, tempDir(t));
    await log.createTopic('c', CONFIG);
    const latest = await fill(log, 'c', 800, 400);
    await fill(log, 'c', 400, 400, 800);
    const part = log.partitionForCleaning('c', 0);
    const first = await compactPartition(part, CONFIG, { now: T0, maxKeyMapBytes: 2000 });
    const end = part
      .listSegments()
      .filter((s) => !s.active)
      .at(-1)!.nextOffset;
    assert.ok(first.cleanedUpTo < end, 'the first pass stopped early');
    let passes = 1;
    while (readCleanerCheckpoint(part).cleanUpTo < end && passes < 50) {
      await compactPartition(part, CONFIG, { now: T0, maxKeyMapBytes: 2000 });
      passes++;
    }
    assert.ok(passes > 1);
    const all = await readAll(log, 'c');
    void latest;
    const lastByKey = new Map<string, number>();
    for (const r of all) lastByKey.set(r.key!.toString(), r.offset);
    for (let k = 0; k < 400; k++) assert.equal(lastByKey.get(`k${k}`), 800 + k);
  });

  test('a compaction hold keeps every record that only a newer record past the hold would drop', async (t) => {
    const dir = tempDir(t);
    let log = await openEmbeddedLog({ dir, fsync: 'os', cleaner: null });
    await log.createTopic('c', CONFIG);
    await fill(log, 'c', 100, 10); // offsets 0..99: the "checkpointed" part
    await log.holdCompaction('c', 0, 100);
    await fill(log, 'c', 300, 10, 100); // a tail past the hold, over several segments
    const part = log.partitionForCleaning('c', 0);
    assert.ok(part.listSegments().filter((s) => !s.active && s.baseOffset >= 100).length > 2);
    await compactPartition(part, CONFIG, { now: T0 });
    const below = (await readAll(log, 'c', 0)).filter((r) => r.offset < 100);
    // the latest record of each key below the hold is still there (what a restore to offset 99 reads)
    for (let k = 0; k < 10; k++) {
      assert.ok(
        below.some((r) => r.offset === 90 + k && r.key!.toString() === `k${k}`),
        `k${k} at ${90 + k} kept`,
      );
    }
    assert.ok(below.length < 100, 'records below the hold that newer ones below it replace are dropped');

    // the hold outlives the process: after a reopen, before anyone sets it again, it still holds
    await log.close();
    log = await open(t, dir);
    await compactPartition(log.partitionForCleaning('c', 0), CONFIG, { now: T0 });
    assert.equal((await readAll(log, 'c', 0)).filter((r) => r.offset >= 90 && r.offset < 100).length, 10);

    // moving it to the end lets compaction use the tail: now only the latest of each key is left
    await log.holdCompaction('c', 0, await log.endOffset('c', 0));
    await compactPartition(log.partitionForCleaning('c', 0), CONFIG, { now: T0 });
    assert.equal((await readAll(log, 'c', 0)).filter((r) => r.offset < 100).length, 0);
    await assert.rejects(log.holdCompaction('c', 0, -1), { code: 'EDDY_INVALID_ARGUMENT' });
  });

  test('the hold file is written at the first hold and before a pass, not at every hold', async (t) => {
    const log = await open(t, tempDir(t));
    await log.createTopic('c', CONFIG);
    await fill(log, 'c', 300, 10);
    const part = log.partitionForCleaning('c', 0);
    const saved = () => JSON.parse(readFileSync(join(part.dir, COMPACTION_HOLD_FILE), 'utf8')).offset;
    await log.holdCompaction('c', 0, 10);
    assert.equal(saved(), 10);
    await log.holdCompaction('c', 0, 200); // a job's commits: in memory only
    await log.holdCompaction('c', 0, 250);
    assert.equal(saved(), 10, 'behind: a crash now would only compact less');
    const result = await compactPartition(part, CONFIG, { now: T0 });
    assert.equal(result.heldAt, 250);
    assert.equal(saved(), 250, 'what a pass used is on disk before it runs');
  });

  test('a damaged compaction hold file holds everything', async (t) => {
    const dir = tempDir(t);
    let log = await openEmbeddedLog({ dir, fsync: 'os', cleaner: null });
    await log.createTopic('c', CONFIG);
    await fill(log, 'c', 300, 10);
    await log.holdCompaction('c', 0, 300);
    const holdFile = join(log.partitionForCleaning('c', 0).dir, COMPACTION_HOLD_FILE);
    await log.close();
    writeFileSync(holdFile, '{"offs');
    log = await open(t, dir);
    const result = await compactPartition(log.partitionForCleaning('c', 0), CONFIG, { now: T0 });
    assert.equal(result.segmentsCleaned, 0);
    assert.equal((await readAll(log, 'c', 0)).length, 300);
  });

  test('the default cleaner compacts after segment rolls once half the log is dirty', async (t) => {
    const log = await open(t, tempDir(t), { cleaner: createDefaultCleaner() });
    await log.createTopic('c', CONFIG);
    await fill(log, 'c', 400, 4);
    await log.scheduleCleanupAll();
    const part = log.partitionForCleaning('c', 0);
    assert.ok(dirtyRatio(part) < 0.5);
    const closed = part.listSegments().filter((s) => !s.active);
    const records = await readAll(log, 'c', 0);
    const inClosed = records.filter((r) => r.offset < closed.at(-1)!.nextOffset);
    assert.ok(
      inClosed.length <= 8,
      `at most a few records per key remain in closed segments (${inClosed.length})`,
    );
  });
});
