/**
 * One job scaled over worker processes on a real broker (the Kafka coordinator): three workers
 * under the supervisor count 100,000 messages while one is SIGKILLed mid-stream (the supervisor
 * restarts it, its tasks move and come back); at the end every key's count and output sequence match
 * the model exactly (exactly-once). With standbys, a killed worker's tasks are restored on their new
 * owner from the local standby copy: a replay of a few records, not a rebuild. A worker paused past
 * its session (SIGSTOP: a zombie) finds its tasks' transactional ids claimed by their new owners when
 * it wakes: its commit is fenced, it stops those tasks and rejoins, and exactly-once still holds.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KafkaLog, openKafkaLog } from '../src/log/kafka/kafka-log.js';
import { CheckpointStore, inputKey } from '../src/runtime/checkpoint.js';
import { partitionForKey } from '../src/util/murmur2.js';
import { type Broker, startBroker } from './helpers/broker.js';
import { type EddyProcess, spawnEddy, waitUntil } from './helpers/eddy-process.js';

const JOB = new URL('./fixtures/count-job.ts', import.meta.url).pathname;
const PARTITIONS = 6;
const KEYS = 1000;

// the broker starts when the file loads (startBroker registers its own stop with after());
// started inside a before() hook, its stop would run right after that hook
const broker: Broker = startBroker();
let log: KafkaLog;
const dir = mkdtempSync(join(tmpdir(), 'eddy-kcoord-'));

before(async () => {
  log = await openKafkaLog({ brokers: broker.brokers, clientId: 'eddy-test' });
});
after(async () => {
  await log?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Appends `count` messages round the keys, routed by key; returns the model's counts. */
async function produce(
  topic: string,
  from: number,
  count: number,
  model: Map<string, number>,
): Promise<void> {
  const batches: Buffer[][] = Array.from({ length: PARTITIONS }, () => []);
  for (let i = from; i < from + count; i++) {
    const key = `k${i % KEYS}`;
    model.set(key, (model.get(key) ?? 0) + 1);
    batches[partitionForKey(Buffer.from(key), PARTITIONS)].push(Buffer.from(key));
  }
  await Promise.all(
    batches.map(async (keys, p) => {
      for (let i = 0; i < keys.length; i += 5000) {
        await log.append(
          topic,
          p,
          keys.slice(i, i + 5000).map((key) => ({ key, value: Buffer.from('1') })),
        );
      }
    }),
  );
}

async function caughtUp(job: string, input: string): Promise<boolean> {
  const cps = await new CheckpointStore(log, `__eddy-${job}-checkpoints`).readAll().catch(() => undefined);
  if (!cps) return false;
  for (let p = 0; p < PARTITIONS; p++) {
    const end = await log.endOffset(input, p);
    const next = cps.get(`Partition ${p}`)?.inputs[inputKey(input, p)] ?? 0;
    if (next < end) return false;
  }
  return true;
}

/** Every output record per key: the sequence of counts emitted. */
async function outputs(topic: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  const info = await log.describeTopic(topic);
  for (const part of info.partitions) {
    let offset = part.earliestOffset;
    while (offset < part.endOffset) {
      const records = await log.read(topic, part.partition, offset, {
        maxRecords: 10_000,
        maxBytes: 8 << 20,
      });
      if (records.length === 0) break;
      for (const r of records) {
        const key = (r.key as Buffer).toString();
        let list = out.get(key);
        if (!list) out.set(key, (list = []));
        list.push(JSON.parse((r.value as Buffer).toString()) as number);
      }
      offset = records[records.length - 1].offset + 1;
    }
  }
  return out;
}

/** The last `generation …` line a worker printed (`worker` is its id). */
function lastGen(p: EddyProcess, worker: string): string {
  return p.lines.filter((l) => l.startsWith('generation') && l.endsWith(`(worker ${worker})`)).pop() ?? '';
}

/** Every key's output sequence must be exactly 1..n for its n messages: no duplicate, no gap. */
async function checkExactlyOnce(topic: string, model: Map<string, number>): Promise<void> {
  const out = await outputs(topic);
  const problems: string[] = [];
  for (const [key, n] of model) {
    const seq = (out.get(key) ?? []).slice().sort((a, b) => a - b);
    if (seq.length !== n || seq.some((v, i) => v !== i + 1))
      problems.push(`${key}: ${seq.length} outputs for ${n} messages (max ${seq[seq.length - 1]})`);
  }
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} keys differ from the model`);
}

/** The input topic of the job run with SUFFIX `suffix`, created with its first `count` messages. */
async function startInput(
  suffix: string,
  count: number,
): Promise<{ input: string; model: Map<string, number> }> {
  const input = `kcount${suffix}-in`;
  await log.createTopic(input, { partitions: PARTITIONS });
  const model = new Map<string, number>();
  await produce(input, 0, count, model);
  return { input, model };
}

/** `eddy run` arguments of the count job on the test broker, then `extra`. */
const runArgs = (...extra: string[]): string[] => [
  'run',
  JOB,
  '--backend',
  'kafka',
  '--brokers',
  broker.bootstrap,
  ...extra,
];

describe('kafka coordinator: many worker processes', { timeout: 400_000 }, () => {
  it('three workers, one SIGKILLed mid-stream: exactly-once counts and outputs', async () => {
    const suffix = '-eos';
    const { input, model } = await startInput(suffix, 20_000);
    const total = 100_000;
    const sup = spawnEddy(runArgs('--workers', '3', '--data-dir', join(dir, 'eos')), {
      EXACTLY_ONCE: '1',
      SUFFIX: suffix,
    });
    await waitUntil('three workers', () => sup.workers.size === 3, 30_000, 100);
    for (let sent = 20_000; sent < total; sent += 10_000) {
      await produce(input, sent, 10_000, model);
      if (sent === 50_000) {
        // kill worker 1 while it runs tasks (not before it got any), mid-stream
        await waitUntil('worker 1 running tasks', () => /tasks \[\d/.test(lastGen(sup, '1')), 60_000, 100);
        await new Promise((r) => setTimeout(r, 1000));
        process.kill(sup.workers.get(1) as number, 'SIGKILL');
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitUntil(
      'worker 1 restarted',
      () => sup.lines.some((l) => /worker 1 started/.test(l) && sup.lines.indexOf(l) > 3),
      30_000,
    );
    await waitUntil('every task caught up', () => caughtUp(`kcount${suffix}`, input), 240_000, 1000);
    await checkExactlyOnce(`kcount${suffix}-out`, model);
    assert.equal(await sup.stop(60_000), 0);
    assert.ok(sup.lines.some((l) => /worker 1 exited \(code null, signal SIGKILL\)/.test(l)));
  });

  it('with a standby, a killed worker’s tasks are replayed from the standby copy, not rebuilt', async () => {
    const suffix = '-sb';
    const { input, model } = await startInput(suffix, 60_000);
    const workers = [0, 1, 2].map((i) =>
      spawnEddy(
        // --session-timeout at the broker's group.min.session.timeout.ms: the kill is noticed sooner
        runArgs('--standbys', '1', '--session-timeout', '6000', '--data-dir', join(dir, `sb-${i}`)),
        { SUFFIX: suffix, EDDY_WORKER_ID: `sb-${i}` },
      ),
    );
    await waitUntil('every task caught up', () => caughtUp(`kcount${suffix}`, input), 180_000, 1000);
    await waitUntil(
      'standbys assigned',
      () => workers.every((w, i) => /standby \[\d/.test(lastGen(w, `sb-${i}`))),
      60_000,
    );
    // the last generation's assignment of worker 0
    const tasks0 = (/tasks \[([\d,]*)\]/.exec(lastGen(workers[0], 'sb-0'))?.[1] ?? '')
      .split(',')
      .filter(Boolean)
      .map(Number);
    assert.ok(tasks0.length > 0, lastGen(workers[0], 'sb-0'));
    const mark = workers.map((w) => w.lines.length);
    workers[0].child.kill('SIGKILL');
    await produce(input, 60_000, 600, model);
    const restores = () =>
      workers
        .slice(1)
        .flatMap((w, i) => w.lines.slice(mark[i + 1]).filter((l) => l.startsWith('restored counts/')));
    const restoredTasks = () => new Set(restores().map((l) => Number(/counts\/(\d+)/.exec(l)?.[1])));
    await waitUntil(
      'the killed worker’s tasks restored elsewhere',
      () => tasks0.every((p) => restoredTasks().has(p)),
      120_000,
    );
    await waitUntil('every task caught up', () => caughtUp(`kcount${suffix}`, input), 120_000, 1000);
    for (const p of tasks0) {
      const line = restores().find((l) => l.startsWith(`restored counts/${p}:`)) as string;
      const m = /: (\w+) (\d+) records/.exec(line);
      assert.ok(m, line);
      assert.notEqual(m[1], 'rebuilt', line);
      // a full rebuild would read every key of the partition (~KEYS / PARTITIONS live records, more before compaction)
      assert.ok(Number(m[2]) < 60, line);
    }
    const out = await outputs(`kcount${suffix}-out`);
    for (const [key, n] of model) assert.ok(Math.max(...(out.get(key) ?? [0])) >= n, key);
    for (const w of workers.slice(1)) assert.equal(await w.stop(60_000), 0);
  });
  it('a paused worker (a zombie) is fenced when it wakes: it stops its tasks and rejoins, exactly-once holds', async () => {
    const suffix = '-zombie';
    const { input, model } = await startInput(suffix, 20_000);
    const workers = [0, 1, 2].map((i) =>
      spawnEddy(runArgs('--data-dir', join(dir, `z-${i}`)), {
        EXACTLY_ONCE: '1',
        SUFFIX: suffix,
        EDDY_WORKER_ID: `z-${i}`,
      }),
    );
    // every worker runs tasks (a generation line is printed once its assignment is in effect)
    await waitUntil(
      'every worker running tasks',
      () => workers.every((w, i) => /tasks \[\d/.test(lastGen(w, `z-${i}`))),
      60_000,
      100,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const zombie = workers[0];
    const pid = zombie.child.pid as number;
    // paused past the session timeout (10 s): the group gives its tasks to the others, which fence it
    process.kill(pid, 'SIGSTOP');
    const resumeAt = performance.now() + 16_000;
    for (let sent = 20_000; sent < 60_000; sent += 5_000) {
      await produce(input, sent, 5_000, model);
      if (performance.now() < resumeAt) await new Promise((r) => setTimeout(r, 1500));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, resumeAt - performance.now())));
    const mark = zombie.lines.length;
    process.kill(pid, 'SIGCONT');
    await produce(input, 60_000, 10_000, model);
    await waitUntil(
      'the zombie fenced and back in the group',
      () => zombie.lines.slice(mark).some((l) => l.startsWith('generation')),
      60_000,
    );
    await waitUntil('every task caught up', () => caughtUp(`kcount${suffix}`, input), 180_000, 1000);
    await checkExactlyOnce(`kcount${suffix}-out`, model);
    assert.ok(
      zombie.lines.slice(mark).some((l) => /^warning: tasks \[[\d,]+\] fenced/.test(l)),
      zombie.lines.slice(mark).join('\n'),
    );
    assert.equal(zombie.child.exitCode, null, 'the fenced worker kept running');
    for (const w of workers) assert.equal(await w.stop(60_000), 0);
  });
});
