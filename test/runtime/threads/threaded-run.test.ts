import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compactionHoldOf } from '../../../src/log/embedded/compactor.js';
import { openEmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import type { Log, LogRecord } from '../../../src/log/types.js';
import { CheckpointStore } from '../../../src/runtime/checkpoint.js';
import { StoreQueries } from '../../../src/runtime/control/store-queries.js';
import { checkpointTopic } from '../../../src/runtime/job.js';
import { runJob } from '../../../src/runtime/run-job.js';
import { ThreadedContainer } from '../../../src/runtime/threads/index.js';
import { partitionForKey } from '../../../src/util/murmur2.js';
import { tempDir } from '../../helpers/tmp.js';
import { sumJob } from './fixtures/sum-job.js';

const JOB_MODULE = fileURLToPath(new URL('./fixtures/sum-job.ts', import.meta.url));
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

async function readAll(log: Log, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  const info = await log.describeTopic(topic);
  for (const p of info.partitions) {
    let offset = p.earliestOffset;
    while (offset < p.endOffset) {
      const records = await log.read(topic, p.partition, offset, { maxRecords: 10_000 });
      if (records.length === 0) break;
      out.push(...records);
      offset = records[records.length - 1].offset + 1;
    }
  }
  return out;
}

/** Appends `messages` to `amounts`, each key to its murmur2 partition, one append per partition. */
async function produce(log: Log, messages: [string, unknown][], partitions = 4): Promise<void> {
  await log.ensureTopic('amounts', { partitions });
  const by = new Map<number, { key: Buffer; value: Buffer }[]>();
  for (const [key, value] of messages) {
    const k = Buffer.from(key);
    const p = partitionForKey(k, partitions);
    let list = by.get(p);
    if (!list) by.set(p, (list = []));
    list.push({ key: k, value: json(value) });
  }
  for (const [p, records] of by) await log.append('amounts', p, records);
}

function messages(n: number, keys: number): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (let i = 0; i < n; i++) out.push([`k${(i * 7919) % keys}`, { amount: (i % 13) + 1 }]);
  return out;
}

/** The last sum of every key in `sums-out`, and every output as `partition:key=sum` in offset order. */
async function outputs(log: Log): Promise<{ last: Map<string, number>; all: string[] }> {
  const last = new Map<string, number>();
  const all: string[] = [];
  for (const r of await readAll(log, 'sums-out')) {
    const key = String(r.key);
    const sum = JSON.parse(String(r.value)) as number;
    last.set(key, sum);
    all.push(`${key}=${sum}`);
  }
  return { last, all };
}

async function runOnce(dir: string, threads: number, exactlyOnce: boolean, input: [string, unknown][]) {
  const log = await openEmbeddedLog({ dir: join(dir, 'log') });
  try {
    await produce(log, input);
    const job = sumJob({ exactlyOnce });
    const metrics = await runJob(job, {
      log,
      dataDir: dir,
      untilCaughtUp: true,
      threads,
      jobModule: JOB_MODULE,
    });
    const out = await outputs(log);
    const checkpoints = await new CheckpointStore(log, checkpointTopic('sums')).readAll();
    // each changelog's compaction is held at what its task's last checkpoint covers
    for (let p = 0; p < 4; p++) {
      const covered = checkpoints.get(`Partition ${p}`)?.changelogs.sums ?? -1;
      const part = log.partitionForCleaning('sums-sums-changelog', p);
      assert.equal(compactionHoldOf(part), covered + 1, `threads ${threads}: the hold of partition ${p}`);
    }
    return { metrics, out, checkpoints };
  } finally {
    await log.close();
  }
}

describe('runJob with threads', () => {
  for (const exactlyOnce of [false, true]) {
    it(`gives the same outputs and checkpoints with threads 2 over 4 partitions as with threads 1 (${exactlyOnce ? 'exactly-once' : 'at-least-once'})`, async (t) => {
      if (exactlyOnce) process.env.SUM_EXACTLY_ONCE = '1';
      t.after(() => {
        delete process.env.SUM_EXACTLY_ONCE;
      });
      const input = messages(20_000, 500);
      const one = await runOnce(tempDir(t), 1, exactlyOnce, input);
      const two = await runOnce(tempDir(t), 2, exactlyOnce, input);
      assert.equal(one.metrics.processed, 20_000);
      assert.equal(two.metrics.processed, 20_000);
      assert.equal(two.metrics.tasks, 4);
      assert.deepEqual([...two.out.last].sort(), [...one.out.last].sort());
      assert.deepEqual([...two.out.all].sort(), [...one.out.all].sort());
      assert.equal(two.checkpoints.size, 4);
      for (const [task, cp] of one.checkpoints)
        assert.deepEqual(two.checkpoints.get(task)?.inputs, cp.inputs);
    });
  }
});

describe('transfer slots of task threads', () => {
  it('a thread lends a slot for every read and append its tasks can have in flight: none falls back to a transfer', async (t) => {
    const dir = tempDir(t);
    const log = await openEmbeddedLog({ dir: join(dir, 'log') });
    try {
      await produce(log, messages(20_000, 500));
      // each flush of a task appends to its changelog and to all 9 output partitions at once (9 is
      // prime to the 4 input partitions: a task's keys spread over every one)
      await log.createTopic('sums-out', { partitions: 9 });
      let container: unknown;
      const metrics = await runJob(sumJob(), {
        log,
        dataDir: dir,
        untilCaughtUp: true,
        threads: 4,
        jobModule: JOB_MODULE,
        onStarted: (c) => {
          container = c;
        },
      });
      assert.equal(metrics.processed, 20_000);
      assert.ok(container instanceof ThreadedContainer);
      assert.equal(container.transfers, 0, 'reads and appends whose bytes were transferred');
    } finally {
      await log.close();
    }
  });
});

/** Runs the fixture job with `threads` over `input` until it fails; returns the error and checkpoints. */
async function runToFailure(
  dir: string,
  threads: number,
  input: [string, unknown][],
  poison: [string, unknown],
) {
  const log = await openEmbeddedLog({ dir: join(dir, 'log') });
  try {
    await produce(log, input);
    await produce(log, [poison]);
    const started = performance.now();
    const error = await runJob(sumJob(), { log, dataDir: dir, threads, jobModule: JOB_MODULE }).then(
      () => assert.fail('the job should have failed'),
      (err: unknown) => err as Error & { code?: string },
    );
    const checkpoints = await new CheckpointStore(log, checkpointTopic('sums')).readAll();
    const ms = performance.now() - started;
    return { error, checkpoints, ms };
  } finally {
    await log.close();
  }
}

describe('a failure on one thread', () => {
  it("onError 'fail' in one thread: the job fails with the task's error and no thread commits after it", {
    timeout: 120_000,
  }, async (t) => {
    // no periodic commit: the only commits would be the threads' final ones at stop, which the
    // log owner must refuse once the failure is reported
    process.env.SUM_COMMIT_MS = '600000';
    t.after(() => {
      delete process.env.SUM_COMMIT_MS;
    });
    const { error, checkpoints } = await runToFailure(tempDir(t), 2, messages(4000, 200), [
      'k1',
      { amount: 'none' },
    ]);
    assert.equal(error.code, 'EDDY_TASK_FAILED', String(error));
    assert.match(error.message, /amounts\/\d/);
    assert.deepEqual([...checkpoints.keys()], [], 'no task of any thread has a checkpoint');
  });

  for (const [key, how] of [
    ['crash', /died: a timer of the job threw/],
    ['exit', /exited \(code 3\)/],
  ] as const) {
    it(`a thread that dies (${key === 'crash' ? 'an uncaught error in a timer' : 'process.exit(3)'}) fails the job with EDDY_THREAD_FAILED naming it, no commit after, no hang`, {
      timeout: 120_000,
    }, async (t) => {
      process.env.SUM_COMMIT_MS = '600000';
      t.after(() => {
        delete process.env.SUM_COMMIT_MS;
      });
      const { error, checkpoints } = await runToFailure(tempDir(t), 2, messages(4000, 200), [
        key,
        { amount: 1 },
      ]);
      assert.equal(error.code, 'EDDY_THREAD_FAILED', String(error));
      assert.equal(error.name, 'ThreadFailedError');
      assert.match(error.message, /^thread \d \(partitions \d,\d\) of job "sums" /);
      assert.match(error.message, how);
      assert.deepEqual([...checkpoints.keys()], []);
    });
  }
});

describe('store queries next to a threaded job', () => {
  it('a key, a range over every partition and the stats are answered by the threads owning them', {
    timeout: 120_000,
  }, async (t) => {
    const dir = tempDir(t);
    const log = await openEmbeddedLog({ dir: join(dir, 'log') });
    t.after(() => log.close());
    const input = messages(3000, 1500); // 1500 keys: a range answer spans more than one page of a thread
    await produce(log, input);
    const expected = new Map<string, number>();
    for (const [k, v] of input) expected.set(k, (expected.get(k) ?? 0) + (v as { amount: number }).amount);
    const job = sumJob();
    const queries = new StoreQueries(job);
    const stop = new AbortController();
    let resolveStarted!: () => void;
    const started = new Promise<void>((r) => {
      resolveStarted = r;
    });
    let processed = () => 0;
    let threads = (): number[] => [];
    const run = runJob(job, {
      log,
      dataDir: dir,
      threads: 2,
      jobModule: JOB_MODULE,
      queries,
      signal: stop.signal,
      onStarted: (c) => {
        processed = () => c.metrics().processed;
        threads = () => c.taskViews().map((v) => v.thread);
        resolveStarted();
      },
    });
    try {
      await started;
      while (processed() < input.length) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(
        threads(),
        [0, 1, 0, 1],
        'partitions dealt round-robin, each task view names its thread',
      );
      const answer = queries.get('sums', 'k1');
      assert.equal(queries.decode('sums', 'value', answer.value as Uint8Array).json, expected.get('k1'));
      assert.equal(answer.partition, partitionForKey(Buffer.from('k1'), 4));
      assert.equal(queries.get('sums', 'no-such-key').value, undefined);
      const range = queries.range('sums', { limit: 10_000 });
      assert.equal(range.more, false);
      const keys = range.entries.map((e) => Buffer.from(e.key).toString());
      assert.deepEqual(keys, [...expected.keys()].sort());
      assert.deepEqual(
        range.partitions.map((p) => p.partition),
        [0, 1, 2, 3],
      );
      const stats = queries.stats('sums');
      assert.equal(
        stats.partitions.reduce((n, p) => n + p.keys, 0),
        expected.size,
      );
    } finally {
      stop.abort();
      await run;
    }
  });
});
