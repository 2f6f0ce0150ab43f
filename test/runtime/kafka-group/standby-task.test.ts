// A standby task tails its task's changelog but applies a record only once a checkpoint of the task
// covers it: the records an at-least-once owner appended after its last checkpoint (it may die
// before the next one) are held back, so the copy is never ahead of the checkpoint and a new owner
// replays its tail instead of rebuilding it. On the embedded log (real files).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openEmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import type { Log } from '../../../src/log/types.js';
import { CheckpointStore, encodeCheckpoint } from '../../../src/runtime/checkpoint.js';
import { changelogTopic, checkpointTopic, defineJob } from '../../../src/runtime/job.js';
import { openJobStore } from '../../../src/runtime/job-store.js';
import { StandbyTask } from '../../../src/runtime/kafka-group/standby-task.js';
import { LogChangelogSink } from '../../../src/runtime/log-changelog-sink.js';
import { type RestorableStore, restoreStore } from '../../../src/runtime/restore.js';
import { serdes } from '../../../src/store/serdes.js';
import { tempDir } from '../../helpers/tmp.js';

const job = defineJob({
  name: 'sb',
  inputs: ['sb-in'],
  stores: { counts: { engine: 'lmdb', key: serdes.string, value: serdes.json<number>() } },
  task: () => ({ process() {} }),
});
const CHANGELOG = changelogTopic('sb', 'counts');
const silent = { info() {}, warn() {}, error() {} };

/** Appends changelog records k<from>..k<to-1> (value = the index) to partition 0. */
async function changelog(log: Log, from: number, to: number): Promise<void> {
  const records = [];
  for (let i = from; i < to; i++) records.push({ key: Buffer.from(`k${i}`), value: Buffer.from(String(i)) });
  await log.append(CHANGELOG, 0, records);
}

/** Writes task 0's checkpoint covering changelog offset `covered`. */
async function checkpoint(log: Log, covered: number): Promise<void> {
  const cp = { task: 'Partition 0', inputs: { 'sb-in/0': 0 }, changelogs: { counts: covered }, timestamp: 1 };
  await log.append(checkpointTopic('sb'), 0, [encodeCheckpoint(cp)]);
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('standby task', () => {
  it('applies only changelog records a checkpoint covers, and holds the rest', async (t) => {
    const root = tempDir(t);
    const log = await openEmbeddedLog({ dir: join(root, 'log'), fsync: 'os' });
    t.after(() => log.close());
    await log.createTopic(CHANGELOG, { partitions: 1 });
    await new CheckpointStore(log, checkpointTopic('sb')).init();
    const dataDir = join(root, 'data');
    await changelog(log, 0, 5); // offsets 0..4, before the standby starts
    const standby = new StandbyTask(job, 0, log, dataDir, silent);
    await standby.start();
    try {
      await changelog(log, 5, 15); // offsets 5..14
      await checkpoint(log, 11); // the owner's checkpoint covers 5..11; 12..14 are after it
      await until(
        '12 records applied and 3 held',
        () => standby.metrics.applied === 12 && standby.metrics.held === 3,
      );
    } finally {
      await standby.stop();
    }
    // closed at the last applied offset: the new owner, whose checkpoint covers 11, reuses the copy
    // as it is (a copy at 14 would be ahead of the checkpoint: rebuilt from the whole changelog)
    const end = await log.endOffset(CHANGELOG, 0);
    const sink = new LogChangelogSink(log, CHANGELOG, 0, end, false);
    const store = await openJobStore<RestorableStore & { close(): Promise<void>; get(k: string): unknown }>(
      job,
      dataDir,
      'counts',
      0,
      sink,
    );
    try {
      assert.deepEqual(store.changelogPosition(), { offset: 11, clean: true });
      const result = await restoreStore(store, 'counts', log, CHANGELOG, 0, () => {}, { upTo: 11, end });
      assert.equal(result.mode, 'reused');
      assert.equal(store.get('k11'), 11);
      assert.equal(store.get('k12'), undefined);
    } finally {
      await store.close();
    }
  });

  it('applies the held records once a later checkpoint covers them', async (t) => {
    const root = tempDir(t);
    const log = await openEmbeddedLog({ dir: join(root, 'log'), fsync: 'os' });
    t.after(() => log.close());
    await log.createTopic(CHANGELOG, { partitions: 1 });
    await new CheckpointStore(log, checkpointTopic('sb')).init();
    const standby = new StandbyTask(job, 0, log, join(root, 'data'), silent);
    await standby.start();
    try {
      await changelog(log, 0, 10);
      await until('10 records held', () => standby.metrics.held === 10);
      assert.equal(standby.metrics.applied, 0);
      await checkpoint(log, 3);
      await until('4 applied', () => standby.metrics.applied === 4);
      await checkpoint(log, 9);
      await until('all applied', () => standby.metrics.applied === 10 && standby.metrics.held === 0);
    } finally {
      await standby.stop();
    }
  });

  it('catches up in the background: start returns before applying a backlog, which a checkpoint covers', async (t) => {
    const root = tempDir(t);
    const log = await openEmbeddedLog({ dir: join(root, 'log'), fsync: 'os' });
    t.after(() => log.close());
    await log.createTopic(CHANGELOG, { partitions: 1 });
    await new CheckpointStore(log, checkpointTopic('sb')).init();
    for (let i = 0; i < 12_000; i += 3000) await changelog(log, i, i + 3000);
    await checkpoint(log, 11_999);
    const standby = new StandbyTask(job, 0, log, join(root, 'data'), silent);
    await standby.start();
    try {
      // (a survivor starts standbys while its own tasks run: no restore of the whole copy in start)
      assert.equal(standby.metrics.applied, 0);
      await until('the backlog applied', () => standby.metrics.applied === 12_000);
      assert.equal(standby.metrics.held, 0);
    } finally {
      await standby.stop();
    }
  });
});
