/**
 * Threads on Kafka: the counting job (exactly-once) under the supervisor with `--workers 2
 * --threads 2` on a real broker — two worker processes, each running its tasks on two worker threads
 * with one log owner — counts 60,000 messages produced while it runs, one worker is SIGKILLed
 * mid-stream (the supervisor restarts it; its tasks move to the other worker and come back), and at
 * the end every key's count and output sequence match the model exactly: each task's commit is one
 * transaction of its own id, whichever thread runs it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KafkaLog, openKafkaLog } from '../src/log/kafka/kafka-log.js';
import { countOutputs } from './fixtures/count-job.js';
import { type Broker, startBroker } from './helpers/broker.js';
import { spawnEddy, waitUntil } from './helpers/eddy-process.js';
import { caughtUp as caughtUpOn, lastGen } from './helpers/group-progress.js';
import { checkExactlyOnce, produceCounts } from './helpers/outputs.js';

const JOB = new URL('./fixtures/count-job.ts', import.meta.url).pathname;
const PARTITIONS = 6;
const KEYS = 1000;
const TOTAL = 60_000;

// the broker starts when the file loads (startBroker registers its own stop with after())
const broker: Broker = startBroker();
let log: KafkaLog;
const caughtUp = (job: string, input: string) => caughtUpOn(log, job, input, PARTITIONS);
const dir = mkdtempSync(join(tmpdir(), 'eddy-kthreads-'));

before(async () => {
  log = await openKafkaLog({ brokers: broker.brokers, clientId: 'eddy-test' });
});
after(async () => {
  await log?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('threads on Kafka', { timeout: 600_000 }, () => {
  it('two workers of two threads each, one SIGKILLed mid-stream: exactly-once counts and outputs', async () => {
    const suffix = 'threads';
    const topic = `kcount${suffix}-in`;
    await log.createTopic(topic, { partitions: PARTITIONS });
    const model = new Map<string, number>();
    const produce = (from: number, count: number) =>
      produceCounts(log, {
        topic,
        partitions: PARTITIONS,
        keys: KEYS,
        placement: 'murmur2',
        from,
        count,
        model,
      });
    const step = TOTAL / 10;
    await produce(0, 2 * step);
    const sup = spawnEddy(
      [
        'run',
        JOB,
        '--backend',
        'kafka',
        '--brokers',
        broker.bootstrap,
        '--workers',
        '2',
        '--threads',
        '2',
        '--data-dir',
        join(dir, suffix),
      ],
      { EXACTLY_ONCE: '1', SUFFIX: suffix },
    );
    // a worker's threads load the sources through tsx before they run a task: slow on a loaded machine
    const within = async (
      what: string,
      check: () => Promise<boolean> | boolean,
      ms: number,
      every?: number,
    ) => {
      try {
        await waitUntil(what, check, ms, every);
      } catch (err) {
        throw new Error(`${(err as Error).message}; eddy printed:\n${sup.lines.slice(-30).join('\n')}`);
      }
    };
    await within('two workers', () => sup.workers.size === 2, 120_000, 100);
    for (let sent = 2 * step; sent < TOTAL; sent += step) {
      await produce(sent, step);
      if (sent === 5 * step) {
        // kill worker 1 while it runs tasks, mid-stream
        await within('worker 1 running tasks', () => /tasks \[\d/.test(lastGen(sup, '1')), 180_000, 100);
        await new Promise((r) => setTimeout(r, 1000));
        process.kill(sup.workers.get(1) as number, 'SIGKILL');
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    await within(
      'worker 1 restarted',
      () => sup.lines.filter((l) => /worker 1 started/.test(l)).length >= 2,
      30_000,
    );
    await within('every task caught up', () => caughtUp(`kcount${suffix}`, topic), 300_000, 1000);
    const restart = sup.lines.findLastIndex((l) => /worker 1 started/.test(l));
    await within(
      'worker 1 back in the group',
      () => sup.lines.slice(restart).some((l) => /^generation \d+: .*\(worker 1\)$/.test(l)),
      180_000,
    );
    for (const out of countOutputs(suffix)) await checkExactlyOnce(log, out, model);
    assert.equal(await sup.stop(60_000), 0, sup.lines.slice(-40).join('\n'));
    assert.ok(sup.lines.some((l) => /worker 1 exited \(code null, signal SIGKILL\)/.test(l)));
    assert.ok(!sup.lines.some((l) => /TRANSACTION_ABORTABLE/.test(l)), 'no transaction refused');
  });
});
