import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compactTopic } from '../../src/log/embedded/compactor.js';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import type { Log, LogRecord } from '../../src/log/types.js';
import { CheckpointStore } from '../../src/runtime/checkpoint.js';
import { Container } from '../../src/runtime/container.js';
import { checkpointTopic, deadLetterTopic, defineJob, type JobInput } from '../../src/runtime/job.js';
import type { RestoreProgress } from '../../src/runtime/restore.js';
import { runJob } from '../../src/runtime/run-job.js';
import { serdes } from '../../src/store/serdes.js';
import type { KeyValueStore } from '../../src/store/types.js';
import { partitionForKey } from '../../src/util/murmur2.js';
import { tempDir } from '../helpers/tmp.js';

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

async function produce(log: Log, topic: string, messages: [string, unknown][]): Promise<void> {
  const info = await log.describeTopic(topic);
  const n = info.partitions.length;
  for (const [key, value] of messages) {
    const k = Buffer.from(key);
    await log.append(topic, partitionForKey(k, n), [{ key: k, value: json(value) }]);
  }
}

/** A job that sums `amount` per key into store `sums` and emits each new sum to `sums-out`. */
function sumJob(overrides: Partial<JobInput> = {}) {
  return defineJob({
    name: 'sums',
    inputs: ['amounts'],
    outputs: ['sums-out'],
    stores: { sums: { key: serdes.string, value: serdes.json<number>() } },
    task: () => {
      let sums: KeyValueStore<string, number>;
      return {
        init(ctx) {
          sums = ctx.store('sums');
        },
        process(msg, out) {
          const { amount } = msg.value as { amount: number };
          if (typeof amount !== 'number') throw new Error(`no amount in ${JSON.stringify(msg.value)}`);
          const key = msg.key as string;
          const sum = (sums.get(key) ?? 0) + amount;
          sums.put(key, sum);
          out.send({ topic: 'sums-out', key, value: sum });
        },
      };
    },
    ...overrides,
  });
}

async function sumsOf(log: Log, dataDir: string, job = sumJob()): Promise<Map<string, number>> {
  const container = new Container(job, { log, dataDir });
  await container.start();
  const result = new Map<string, number>();
  for (const p of container.taskPartitions) {
    for (const { key, value } of container.storesOf(p)?.get('sums')?.all() ?? []) {
      result.set(key as string, value as number);
    }
  }
  await container.close();
  return result;
}

/** Runs the sum job until it caught up; returns the restores it reported done. */
async function runRestoring(log: Log, dataDir: string): Promise<RestoreProgress[]> {
  const restored: RestoreProgress[] = [];
  await runJob(sumJob(), { log, dataDir, untilCaughtUp: true, onRestore: (p) => p.done && restored.push(p) });
  return restored;
}

describe('the container', () => {
  it('runs one task per partition, keeps state per key, and sends outputs', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 3 });
    const input: [string, unknown][] = [];
    for (let i = 0; i < 300; i++) input.push([`user-${i % 10}`, { amount: 1 }]);
    await produce(log, 'amounts', input);

    const metrics = await runJob(sumJob(), { log, dataDir, untilCaughtUp: true });
    assert.equal(metrics.processed, 300);
    assert.equal(metrics.tasks, 3);
    const sums = await sumsOf(log, dataDir);
    assert.equal(sums.size, 10);
    for (const v of sums.values()) assert.equal(v, 30);
    const outputs = await readAll(log, 'sums-out');
    assert.equal(outputs.length, 300);
    const changelog = await readAll(log, 'sums-sums-changelog');
    assert.ok(changelog.length >= 10 && changelog.length <= 300, 'the cache coalesces changelog writes');
    await log.close();
  });

  it('resumes from its checkpoint after a restart without processing a message twice', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 2 });
    await produce(log, 'amounts', [
      ['a', { amount: 1 }],
      ['b', { amount: 2 }],
    ]);
    await runJob(sumJob(), { log, dataDir, untilCaughtUp: true });
    await produce(log, 'amounts', [
      ['a', { amount: 10 }],
      ['b', { amount: 20 }],
    ]);
    const second = await runJob(sumJob(), { log, dataDir, untilCaughtUp: true });
    assert.equal(second.processed, 2);
    assert.deepEqual(Object.fromEntries(await sumsOf(log, dataDir)), { a: 11, b: 22 });
    const checkpoints = await new CheckpointStore(log, checkpointTopic('sums')).readAll();
    assert.equal(checkpoints.size, 2);
    let committed = 0;
    for (const cp of checkpoints.values()) for (const o of Object.values(cp.inputs)) committed += o;
    assert.equal(committed, 4);
    await log.close();
  });

  it('reuses a current local store, and rebuilds a lost one from its changelog', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 1 });
    const input: [string, unknown][] = [];
    for (let i = 0; i < 500; i++) input.push([`k${i % 50}`, { amount: i }]);
    await produce(log, 'amounts', input);
    await runJob(sumJob(), { log, dataDir, untilCaughtUp: true });
    const expected = await sumsOf(log, dataDir);

    const modes: RestoreProgress['mode'][] = [];
    await runJob(sumJob(), {
      log,
      dataDir,
      untilCaughtUp: true,
      onRestore: (p) => p.done && modes.push(p.mode),
    });
    assert.deepEqual(modes, ['reused']);

    rmSync(join(dataDir, 'stores', 'sums', 'sums', '0'), { recursive: true, force: true });
    const restored = await runRestoring(log, dataDir);
    assert.equal(restored[0].mode, 'rebuilt');
    assert.ok(restored[0].restored >= 50);
    assert.deepEqual(await sumsOf(log, dataDir), expected);
    await log.close();
  });

  it('restores to the checkpoint and cancels changelog records a crashed run wrote after it', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 1 });
    await produce(log, 'amounts', [
      ['a', { amount: 1 }],
      ['b', { amount: 2 }],
    ]);
    await runJob(sumJob(), { log, dataDir, untilCaughtUp: true });
    // a run that crashed between flushing its stores and writing its checkpoint: its changelog
    // records are there, its checkpoint is not (its inputs will be processed again)
    await log.append('sums-sums-changelog', 0, [
      { key: Buffer.from('a'), value: json(1000) },
      { key: Buffer.from('c'), value: json(7) },
    ]);
    await produce(log, 'amounts', [['a', { amount: 10 }]]);

    const restored = await runRestoring(log, dataDir);
    assert.equal(restored[0].mode, 'reused');
    assert.equal(restored[0].relogged, 2);
    assert.deepEqual(Object.fromEntries(await sumsOf(log, dataDir)), { a: 11, b: 2 });
    const outputs = (await readAll(log, 'sums-out')).map((r) => `${r.key}=${r.value}`);
    assert.deepEqual(outputs, ['a=1', 'b=2', 'a=11']);

    // the changelog alone now rebuilds the same state: 'a' relogged, 'c' tombstoned
    rmSync(join(dataDir, 'stores', 'sums', 'sums', '0'), { recursive: true, force: true });
    assert.deepEqual(Object.fromEntries(await sumsOf(log, dataDir)), { a: 11, b: 2 });
    await log.close();
  });

  it('never lets a changelog tail past the checkpoint compact away what the store restores to', async (t) => {
    const dir = tempDir(t);
    const dataDir = join(dir, 'data');
    let log = await openEmbeddedLog({ dir: join(dir, 'log'), fsync: 'os', cleaner: null });
    await log.createTopic('amounts', { partitions: 1 });
    // small segments, so that the crashed run's tail fills closed segments a compaction may take
    await log.createTopic('sums-sums-changelog', { partitions: 1, cleanup: 'compact', segmentBytes: 1024 });
    await produce(log, 'amounts', [
      ['a', { amount: 1 }],
      ['b', { amount: 2 }],
    ]);
    await runJob(sumJob(), { log, dataDir, untilCaughtUp: true });
    // a run that crashed between flushing its stores and writing its checkpoint, after a long
    // tail of changelog records for the same keys (at-least-once appends them in the background)
    for (let i = 0; i < 60; i++) {
      await log.append('sums-sums-changelog', 0, [
        { key: Buffer.from(i % 2 ? 'a' : 'b'), value: json(1000 + i) },
      ]);
    }
    await produce(log, 'amounts', [['a', { amount: 10 }]]);
    // its cleaner compacted the changelog meanwhile; then it died, and the local store is lost
    await compactTopic(log, 'sums-sums-changelog', { now: Date.now() });
    await log.close();
    rmSync(join(dataDir, 'stores', 'sums', 'sums', '0'), { recursive: true, force: true });

    log = await openEmbeddedLog({ dir: join(dir, 'log'), fsync: 'os', cleaner: null });
    t.after(() => log.close());
    // the restart's own compaction, before the store restores, must keep them too
    await compactTopic(log, 'sums-sums-changelog', { now: Date.now() });
    const restored = await runRestoring(log, dataDir);
    assert.equal(restored[0].mode, 'rebuilt');
    assert.deepEqual(Object.fromEntries(await sumsOf(log, dataDir)), { a: 11, b: 2 });
  });

  it('warns when the changelog holds less than the checkpoint covers (a deleted changelog topic)', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 1 });
    await produce(log, 'amounts', [['a', { amount: 1 }]]);
    await runJob(sumJob(), { log, dataDir, untilCaughtUp: true });
    await log.deleteTopic('sums-sums-changelog');
    const warnings: string[] = [];
    const logger = { info() {}, warn: (m: string) => warnings.push(m), error() {} };
    await runJob(sumJob(), { log, dataDir, untilCaughtUp: true, logger });
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(
      warnings[0],
      /changelog sums-sums-changelog\/0 ends at offset 0 but the checkpoint covers offset 0/,
    );
    await log.close();
  });

  it("with onError 'fail', stops at the bad message and commits nothing past it", async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 1 });
    await produce(log, 'amounts', [
      ['a', { amount: 1 }],
      ['a', { nope: true }],
      ['a', { amount: 5 }],
    ]);
    await assert.rejects(
      runJob(sumJob({ commitMs: 1 }), { log, dataDir, untilCaughtUp: true }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EDDY_TASK_FAILED');
        assert.match(err.message, /amounts\/0@1/);
        return true;
      },
    );
    const checkpoints = await new CheckpointStore(log, checkpointTopic('sums')).readAll();
    const offset = checkpoints.get('Partition 0')?.inputs['amounts/0'] ?? 0;
    assert.ok(offset <= 1, `checkpoint ${offset} must not pass the failed message`);
    await log.close();
  });

  it("with onError 'skip', counts the bad message and goes on", async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 1 });
    await produce(log, 'amounts', [
      ['a', { amount: 1 }],
      ['a', { nope: true }],
      ['a', { amount: 5 }],
    ]);
    await log.append('amounts', 0, [{ key: Buffer.from('a'), value: Buffer.from('{not json') }]);
    const metrics = await runJob(sumJob({ onError: 'skip' }), { log, dataDir, untilCaughtUp: true });
    assert.equal(metrics.skipped, 2);
    assert.equal(metrics.processed, 2);
    assert.deepEqual(Object.fromEntries(await sumsOf(log, dataDir, sumJob({ onError: 'skip' }))), { a: 6 });
    await log.close();
  });

  it("with onError 'dead-letter', sends the raw record and the error to the dead-letter topic", async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 1 });
    await produce(log, 'amounts', [
      ['a', { amount: 1 }],
      ['b', { nope: true }],
    ]);
    const metrics = await runJob(sumJob({ onError: 'dead-letter' }), { log, dataDir, untilCaughtUp: true });
    assert.equal(metrics.deadLettered, 1);
    const dead = await readAll(log, deadLetterTopic('sums'));
    assert.equal(dead.length, 1);
    assert.equal(dead[0].key?.toString(), 'b');
    assert.equal(dead[0].value?.toString(), '{"nope":true}');
    assert.match(dead[0].headers['eddy.error'].toString(), /no amount/);
    assert.equal(dead[0].headers['eddy.offset'].toString(), '1');
    await log.close();
  });

  it('with exactlyOnce, commits state, outputs and offsets in one transaction', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 2 });
    const input: [string, unknown][] = [];
    for (let i = 0; i < 100; i++) input.push([`k${i % 7}`, { amount: 1 }]);
    await produce(log, 'amounts', input);
    const metrics = await runJob(sumJob({ exactlyOnce: true }), { log, dataDir, untilCaughtUp: true });
    assert.equal(metrics.processed, 100);
    assert.equal((await readAll(log, 'sums-out')).length, 100);
    const total = [...(await sumsOf(log, dataDir, sumJob({ exactlyOnce: true }))).values()].reduce(
      (a, b) => a + b,
      0,
    );
    assert.equal(total, 100);
    await log.close();
  });

  it('calls window every windowMs and honours coordinator commit and shutdown', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('ticks', { partitions: 1 });
    await produce(log, 'ticks', [
      ['x', 1],
      ['x', 2],
      ['x', 'stop'],
      ['x', 4],
    ]);
    let windows = 0;
    const seen: unknown[] = [];
    const job = defineJob({
      name: 'ticker',
      inputs: ['ticks'],
      windowMs: 5,
      commitMs: 60_000,
      task: () => ({
        async process(msg, _out, coord) {
          seen.push(msg.value);
          await new Promise((r) => setTimeout(r, 10));
          if (msg.value === 'stop') coord.shutdown();
        },
        window() {
          windows++;
        },
      }),
    });
    const metrics = await runJob(job, { log, dataDir });
    assert.deepEqual(seen, [1, 2, 'stop']);
    assert.ok(windows >= 1, 'window was called');
    assert.ok(metrics.commits >= 1);
    const checkpoints = await new CheckpointStore(log, checkpointTopic('ticker')).readAll();
    assert.equal(checkpoints.get('Partition 0')?.inputs['ticks/0'], 3);
    await log.close();
  });

  it('refuses an existing changelog topic with the wrong partition count', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 2 });
    await log.createTopic('sums-sums-changelog', { partitions: 5, cleanup: 'compact' });
    await assert.rejects(runJob(sumJob(), { log, dataDir, untilCaughtUp: true }), {
      code: 'EDDY_TOPIC_MISMATCH',
    });
    await log.close();
  });

  it('refuses a message sent to a topic that is not an output', async (t) => {
    const dataDir = tempDir(t);
    const log = new MemoryLog();
    await log.createTopic('in', { partitions: 1 });
    await produce(log, 'in', [['a', 1]]);
    const job = defineJob({
      name: 'stray',
      inputs: ['in'],
      task: () => ({
        process(_m, out) {
          out.send({ topic: 'elsewhere', value: 1 });
        },
      }),
    });
    await assert.rejects(
      runJob(job, { log, dataDir, untilCaughtUp: true }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EDDY_TASK_FAILED');
        assert.match(err.message, /not among the job's outputs/);
        return true;
      },
    );
    await log.close();
  });
});

/** Polls `check` every 10 ms until it holds (at most `ms`); the last result. */
async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('output latency', () => {
  it('at-least-once: outputs are appended when the loop runs dry, long before the next commit', async (t) => {
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 2 });
    const container = new Container(sumJob({ commitMs: 600_000 }), { log, dataDir: tempDir(t) });
    const stop = new AbortController();
    const running = container.run({ signal: stop.signal });
    await produce(log, 'amounts', [
      ['a', { amount: 1 }],
      ['b', { amount: 2 }],
      ['a', { amount: 3 }],
    ]);
    const out = await until(async () => (await readAll(log, 'sums-out')).length === 3, 10_000);
    const commits = container.metrics().commits;
    stop.abort();
    await running;
    await container.close();
    assert.ok(out, 'the three outputs are visible');
    assert.equal(commits, 0, 'before any commit');
    const sums = (await readAll(log, 'sums-out')).map((r) => `${r.key}=${r.value}`).sort();
    assert.deepEqual(sums, ['a=1', 'a=4', 'b=2']);
    await log.close();
  });

  it('exactly-once: outputs stay invisible until the commit', async (t) => {
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 1 });
    const container = new Container(sumJob({ commitMs: 600_000, exactlyOnce: true }), {
      log,
      dataDir: tempDir(t),
    });
    const stop = new AbortController();
    const running = container.run({ signal: stop.signal });
    await produce(log, 'amounts', [['a', { amount: 1 }]]);
    assert.ok(await until(async () => container.metrics().processed === 1, 10_000), 'processed');
    await new Promise((r) => setTimeout(r, 100)); // a few rounds of the idle loop
    const before = (await readAll(log, 'sums-out')).length;
    stop.abort();
    await running; // commits at stop
    await container.close();
    assert.equal(before, 0, 'nothing visible before the commit');
    assert.equal((await readAll(log, 'sums-out')).length, 1, 'the output is there after it');
    await log.close();
  });
});

describe('defineJob', () => {
  it('reports every bad key at once, naming each', () => {
    assert.throws(
      () =>
        defineJob({
          name: 'bad name!',
          inputs: [],
          task: undefined as never,
          comitMs: 5,
          onError: 'explode',
          stores: { s: { key: serdes.string, value: undefined as never, engine: 'redis' as never } },
        } as unknown as JobInput),
      (err: Error & { code?: string; problems?: string[] }) => {
        assert.equal(err.code, 'EDDY_INVALID_CONFIG');
        const text = err.problems?.join('\n') ?? '';
        for (const key of [
          'comitMs',
          'name',
          'task',
          'inputs',
          'onError',
          'stores.s.value',
          'stores.s.engine',
        ]) {
          assert.match(text, new RegExp(key.replace('.', '\\.')), `mentions ${key}`);
        }
        return true;
      },
    );
  });

  it('commits every 1000 ms by default, every 100 ms with exactlyOnce, and lingers outputs 5 ms', () => {
    const base = { name: 'd', inputs: ['in'], task: () => ({ process() {} }) };
    assert.equal(defineJob(base).commitMs, 1000);
    assert.equal(defineJob(base).lingerMs, 5);
    assert.equal(defineJob({ ...base, exactlyOnce: true }).commitMs, 100);
    assert.equal(defineJob({ ...base, exactlyOnce: true }).lingerMs, undefined);
    assert.equal(defineJob({ ...base, exactlyOnce: true, commitMs: 2000 }).commitMs, 2000);
  });

  it('lingerMs with exactlyOnce, or a negative lingerMs, is refused, naming the key', () => {
    const base = { name: 'd', inputs: ['in'], task: () => ({ process() {} }) };
    for (const [input, pattern] of [
      [{ ...base, exactlyOnce: true, lingerMs: 5 }, /lingerMs: has no effect with exactlyOnce/],
      [{ ...base, lingerMs: -1 }, /lingerMs: expected an integer of milliseconds >= 0, got -1/],
    ] as const) {
      assert.throws(
        () => defineJob(input),
        (err: Error & { code?: string; problems?: string[] }) => {
          assert.equal(err.code, 'EDDY_INVALID_CONFIG');
          assert.match(err.problems?.join('\n') ?? '', pattern);
          return true;
        },
      );
    }
  });

  it('a store with writeBatchSize but no cache is refused, naming the key', () => {
    assert.throws(
      () =>
        defineJob({
          name: 'nocache',
          inputs: [{ topic: 'in', key: serdes.string, value: serdes.string }],
          task: () => ({ process() {} }),
          stores: { s: { key: serdes.string, value: serdes.string, cacheSize: 0, writeBatchSize: 10 } },
        }),
      (err: Error & { code?: string; problems?: string[] }) => {
        assert.equal(err.code, 'EDDY_INVALID_CONFIG');
        assert.match(
          err.problems?.join('\n') ?? '',
          /stores\.s\.writeBatchSize: has no effect with cacheSize 0/,
        );
        return true;
      },
    );
  });
});

describe('commits', () => {
  it("the loop goes on while a commit's durable half runs, and that commit's checkpoint covers only what came before it", async (t) => {
    const log = new MemoryLog();
    await log.createTopic('amounts', { partitions: 1 });
    // the log's flush (the commit's fsync) waits until the test opens the gate
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let flushes = 0;
    const flush = log.flush.bind(log);
    log.flush = async () => {
      flushes++;
      await gate;
      return flush();
    };
    const job = defineJob({
      name: 'pipelined',
      inputs: ['amounts'],
      commitMs: 600_000,
      task: () => ({
        process(msg, _out, coord) {
          if (msg.key === 'commit') coord.commit();
        },
      }),
    });
    const container = new Container(job, { log, dataDir: tempDir(t) });
    const stop = new AbortController();
    const running = container.run({ signal: stop.signal });
    const checkpoints = async () =>
      (await readAll(log, checkpointTopic('pipelined'))).map(
        (r) => (JSON.parse(r.value!.toString()) as { inputs: Record<string, number> }).inputs['amounts/0'],
      );
    await produce(log, 'amounts', [
      ['x', 1],
      ['commit', 0],
    ]);
    assert.ok(await until(async () => flushes > 0, 10_000), 'the commit reached its flush');
    await produce(log, 'amounts', [
      ['y', 1],
      ['z', 1],
    ]);
    assert.ok(
      await until(async () => container.metrics().processed === 4, 10_000),
      'messages after the commit are processed while its flush waits',
    );
    assert.deepEqual(await checkpoints(), [], 'no checkpoint before the flush');
    assert.equal(container.metrics().commits, 0);
    open();
    assert.ok(await until(async () => (await checkpoints()).length === 1, 10_000), 'the checkpoint lands');
    assert.deepEqual(await checkpoints(), [2], 'it covers the two messages before the commit only');
    stop.abort();
    await running;
    await container.close();
    assert.deepEqual(await checkpoints(), [2, 4], 'the commit at stop covers the rest');
    await log.close();
  });
});

describe('at-least-once linger appends', () => {
  it('run in the background: the loop goes on while one waits, the commit waits for it, a failed one fails the run', async (t) => {
    const log = new MemoryLog();
    await log.createTopic('in', { partitions: 1 });
    await log.createTopic('out', { partitions: 1 });
    // appends to `out` wait until the test opens the gate (a broker slow to acknowledge)
    let open!: () => void;
    let gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let outAppends = 0;
    let failNext = false;
    const append = log.append.bind(log);
    log.append = async (topic, partition, records) => {
      if (topic === 'out') {
        outAppends++;
        await gate;
        if (failNext) throw new Error('broker gone');
      }
      return append(topic, partition, records);
    };
    const job = defineJob({
      name: 'linger',
      inputs: ['in'],
      outputs: ['out'],
      commitMs: 600_000,
      lingerMs: 1,
      task: () => ({
        process(msg, out, coord) {
          out.send({ topic: 'out', key: msg.key, value: msg.value });
          if (msg.key === 'commit') coord.commit();
        },
      }),
    });
    const container = new Container(job, { log, dataDir: tempDir(t) });
    const stop = new AbortController();
    const running = container.run({ signal: stop.signal });
    const checkpoints = async () => (await readAll(log, checkpointTopic('linger'))).length;
    await produce(log, 'in', [['a', 1]]);
    assert.ok(await until(async () => outAppends === 1, 10_000), 'the linger append started');
    await produce(log, 'in', [
      ['b', 1],
      ['c', 1],
    ]);
    assert.ok(
      await until(async () => container.metrics().processed === 3, 10_000),
      'messages are processed while the append waits',
    );
    assert.equal(outAppends, 1, 'one linger append at a time');
    await produce(log, 'in', [['commit', 0]]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await checkpoints(), 0, 'the commit waits for the append in flight');
    open();
    assert.ok(await until(async () => (await checkpoints()) === 1, 10_000), 'then the checkpoint lands');
    assert.deepEqual(
      (await readAll(log, 'out')).map((r) => r.key?.toString()),
      ['a', 'b', 'c', 'commit'],
      'outputs in order',
    );
    // a linger append that fails fails the run, with nothing checkpointed past it
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    failNext = true;
    const appendsBefore = outAppends;
    await produce(log, 'in', [['d', 1]]);
    assert.ok(await until(async () => outAppends > appendsBefore, 10_000), 'the next linger append started');
    open();
    await assert.rejects(running, /broker gone/);
    await container.close({ commit: false });
    assert.equal(await checkpoints(), 1, 'no checkpoint after the failed append');
    stop.abort();
    await log.close();
  });
});

describe('many input partitions', () => {
  it('waits on 12 idle partitions without a MaxListenersExceededWarning', async (t) => {
    const root = tempDir(t);
    const log = await openEmbeddedLog({ dir: join(root, 'log'), fsync: 'os' });
    await log.createTopic('wide', { partitions: 12 });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const job = defineJob({ name: 'wide', inputs: ['wide'], task: () => ({ process() {} }) });
    const container = new Container(job, { log, dataDir: join(root, 'data') });
    const stop = new AbortController();
    const running = container.run({ signal: stop.signal });
    await new Promise((r) => setTimeout(r, 1500)); // every cursor at the end, waiting for data, past a wait's timeout
    stop.abort();
    await running;
    await container.close();
    await log.close();
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    process.off('warning', onWarning);
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    );
  });
});
