/**
 * Interactive queries on Kafka with three real worker processes (`eddy run --backend kafka --http`),
 * issue 10: any worker answers any key — from its own task, forwarded to the owner, or from a
 * standby — with the partition, the changelog offset and who answered; range and prefix queries
 * over every partition merge in key order; a killed owner's keys are answered again once the group
 * has rebalanced; workers that rebuild their stores from the changelogs say `restoring` while
 * they do; `/metrics` and `/ready` on a Kafka worker; `eddy store get` through a worker's control
 * socket.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KafkaLog, openKafkaLog } from '../src/log/kafka/kafka-log.js';
import { CheckpointStore, inputKey } from '../src/runtime/checkpoint.js';
import { partitionForKey } from '../src/util/murmur2.js';
import { type Broker, startBroker } from './helpers/broker.js';
import { type EddyProcess, spawnEddy, waitUntil } from './helpers/eddy-process.js';
import { produceCounts } from './helpers/outputs.js';

const JOB = new URL('./fixtures/count-job.ts', import.meta.url).pathname;
const BIN = new URL('../bin/eddy.js', import.meta.url).pathname;
const PARTITIONS = 6;
const KEYS = 3000;
const MESSAGES = 9000;
const SUFFIX = '-iq';
const NAME = `kcount${SUFFIX}`;
const INPUT = `${NAME}-in`;

const broker: Broker = startBroker();
let log: KafkaLog;
const dir = mkdtempSync(join(tmpdir(), 'eddy-kiq-'));
const model = new Map<string, number>();

before(async () => {
  log = await openKafkaLog({ brokers: broker.brokers, clientId: 'eddy-test-iq' });
  await log.createTopic(INPUT, { partitions: PARTITIONS });
  await produceCounts(log, {
    topic: INPUT,
    partitions: PARTITIONS,
    keys: KEYS,
    placement: 'murmur2',
    from: 0,
    count: MESSAGES,
    model,
  });
});
after(async () => {
  await log?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function caughtUp(): Promise<boolean> {
  const cps = await new CheckpointStore(log, `__eddy-${NAME}-checkpoints`).readAll().catch(() => undefined);
  if (!cps) return false;
  for (let p = 0; p < PARTITIONS; p++) {
    const end = await log.endOffset(INPUT, p);
    if ((cps.get(`Partition ${p}`)?.inputs[inputKey(INPUT, p)] ?? 0) < end) return false;
  }
  return true;
}

interface Worker {
  proc: EddyProcess;
  id: string;
  dataDir: string;
  url: string;
}

async function startWorker(id: string, extra: string[] = []): Promise<Worker> {
  const dataDir = join(dir, id);
  const proc = spawnEddy(
    [
      'run',
      JOB,
      '--backend',
      'kafka',
      '--brokers',
      broker.bootstrap,
      '--data-dir',
      dataDir,
      '--http',
      '127.0.0.1:0',
      '--session-timeout',
      '6000',
      ...extra,
    ],
    { SUFFIX, EDDY_WORKER_ID: id },
  );
  let url = '';
  await waitUntil(
    `worker ${id} listening`,
    () => {
      const line = proc.lines.find((l) => l.startsWith('http: listening on '));
      if (line !== undefined) url = line.slice('http: listening on '.length).trim();
      return url !== '' || proc.child.exitCode !== null;
    },
    60_000,
    100,
  );
  assert.ok(url, proc.lines.join('\n'));
  return { proc, id, dataDir, url };
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const keyUrl = (w: Worker, key: string) => `${w.url}/v1/stores/counts/keys/${encodeURIComponent(key)}`;
const lastGen = (w: Worker) =>
  w.proc.lines.filter((l) => l.startsWith('generation') && l.endsWith(`(worker ${w.id})`)).pop() ?? '';
const tasksOf = (w: Worker): number[] =>
  (/tasks \[([\d,]*)\]/.exec(lastGen(w))?.[1] ?? '').split(',').filter(Boolean).map(Number);

/** Every worker in the same generation, tasks covering every partition once. */
async function settled(workers: Worker[]): Promise<boolean> {
  const gens = workers.map((w) => /^generation (\d+)/.exec(lastGen(w))?.[1]);
  if (gens.some((g) => g === undefined) || new Set(gens).size !== 1) return false;
  const all = workers.flatMap(tasksOf).sort((a, b) => a - b);
  return all.length === PARTITIONS && all.every((p, i) => p === i);
}

describe('interactive queries on Kafka, three worker processes', { timeout: 600_000 }, () => {
  it('any worker answers any key (own, forwarded, standby), range and prefix merge every partition, a killed owner is answered again after the rebalance, restoring says so', async () => {
    const workers = [];
    for (const id of ['iq-0', 'iq-1', 'iq-2']) workers.push(await startWorker(id, ['--standbys', '1']));
    await waitUntil('every task caught up', caughtUp, 240_000, 1000);
    await waitUntil('one generation over three workers', () => settled(workers), 120_000, 200);

    // every worker answers every key (a sample of 200 keys from each), with the model's count
    const keys = [...model.keys()];
    for (const w of workers) {
      const mine = new Set(tasksOf(w));
      for (let i = 0; i < keys.length; i += Math.floor(keys.length / 200)) {
        const key = keys[i];
        const p = partitionForKey(Buffer.from(key), PARTITIONS);
        const { status, body } = await getJson(keyUrl(w, key));
        assert.equal(status, 200, `${w.id} ${key}: ${JSON.stringify(body)}`);
        assert.equal(body.value, model.get(key), `${w.id} ${key}`);
        assert.equal(body.partition, p);
        assert.equal(typeof body.changelogOffset, 'number');
        assert.equal(body.restoring, false);
        assert.equal(body.servedBy, mine.has(p) ? 'owner' : 'forwarded', `${w.id} ${key}`);
        if (!mine.has(p)) {
          assert.equal(body.via, w.id);
          assert.ok(
            workers.some((o) => o.id === body.worker && tasksOf(o).includes(p)),
            JSON.stringify(body),
          );
        } else assert.equal(body.worker, w.id);
      }
      // a missing key: 404 from the owner, with its partition
      const missing = await getJson(keyUrl(w, 'no-such-key'));
      assert.equal(missing.status, 404);
      assert.equal(missing.body.partition, partitionForKey(Buffer.from('no-such-key'), PARTITIONS));
    }

    // a range over every partition, from each worker: every key once, in key order, the model's counts
    const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const w of workers) {
      const { status, body } = await getJson(`${w.url}/v1/stores/counts/range?limit=10000`);
      assert.equal(status, 200, JSON.stringify(body).slice(0, 500));
      const entries = body.entries as { key: string; value: number; partition: number }[];
      assert.deepEqual(
        entries.map((e) => e.key),
        sorted,
      );
      for (const e of entries) {
        assert.equal(e.value, model.get(e.key));
        assert.equal(e.partition, partitionForKey(Buffer.from(e.key), PARTITIONS));
      }
      assert.equal(body.more, false);
      const parts = body.partitions as { partition: number; servedBy: string }[];
      assert.deepEqual(
        parts.map((p) => p.partition),
        [0, 1, 2, 3, 4, 5],
      );
      assert.ok(parts.some((p) => p.servedBy === 'forwarded') && parts.some((p) => p.servedBy === 'owner'));
      // a limit cuts the merged answer and says more
      const cut = await getJson(`${w.url}/v1/stores/counts/range?limit=7`);
      assert.deepEqual(
        (cut.body.entries as { key: string }[]).map((e) => e.key),
        sorted.slice(0, 7),
      );
      assert.equal(cut.body.more, true);
      const prefix = await getJson(`${w.url}/v1/stores/counts/prefix/k12`);
      assert.deepEqual(
        (prefix.body.entries as { key: string }[]).map((e) => e.key),
        sorted.filter((k) => k.startsWith('k12')),
      );
    }

    // /metrics and /ready on a Kafka worker
    const metrics = await fetch(`${workers[0].url}/metrics`).then((r) => r.text());
    assert.match(metrics, /eddy_store_reads_total\{[^}]*job="kcount-iq"/);
    const ready = await getJson(`${workers[0].url}/ready`);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    // eddy store get through the worker's control socket (a key of one of its tasks)
    const ownKey = keys.find((k) =>
      tasksOf(workers[0]).includes(partitionForKey(Buffer.from(k), PARTITIONS)),
    );
    const cli = spawnSync(
      process.execPath,
      [
        BIN,
        'store',
        'get',
        ownKey as string,
        '--job',
        NAME,
        '--store',
        'counts',
        '--data-dir',
        workers[0].dataDir,
      ],
      { encoding: 'utf8', env: { ...process.env, EDDY_FROM_SOURCE: '1' }, timeout: 60_000 },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.stdout, `${model.get(ownKey as string)}\n`);

    // SIGKILL worker 0: its keys answer again (standby, then the new owner) once the group rebalances
    const victim = workers[0];
    const victimKey = ownKey as string;
    victim.proc.child.kill('SIGKILL');
    await victim.proc.exited;
    const rest = workers.slice(1);
    const seen = new Set<string>();
    await waitUntil(
      'the killed owner’s key answered by its new owner',
      async () => {
        for (const w of rest) {
          const { status, body } = await getJson(keyUrl(w, victimKey));
          if (status === 200) {
            assert.equal(body.value, model.get(victimKey));
            seen.add(String(body.servedBy));
            if (body.servedBy === 'standby') {
              const s = body.standby as { appliedOffset: number; changelogEnd: number; lag: number };
              assert.equal(typeof s.appliedOffset, 'number');
              assert.ok(s.changelogEnd > s.appliedOffset && s.lag >= 0, JSON.stringify(s));
            }
            if (body.servedBy === 'owner' || body.servedBy === 'forwarded') return true;
          } else {
            assert.equal(status, 503, JSON.stringify(body));
            assert.equal(body.code, 'EDDY_UNAVAILABLE');
            assert.equal(typeof body.message, 'string');
          }
        }
        return false;
      },
      120_000,
      200,
    );
    // until the group notices (session timeout 6 s), the worker holding its standby answers from it
    assert.ok(seen.has('standby'), [...seen].join(','));
    await waitUntil('two workers settled', () => settled(rest), 120_000, 200);
    for (const w of rest) {
      const { body } = await getJson(`${w.url}/v1/stores/counts/range?limit=10000`);
      assert.equal((body.entries as unknown[]).length, KEYS, `${w.id} after the rebalance`);
    }
    for (const w of rest) assert.equal(await w.proc.stop(60_000), 0, w.proc.lines.slice(-20).join('\n'));

    // three fresh workers (empty data dirs, no standbys) rebuild every store from its changelog:
    // queries meanwhile say restoring (or 503 for a partition not open yet), then answer in full
    const fresh = [];
    for (const id of ['iq-3', 'iq-4', 'iq-5']) fresh.push(await startWorker(id));
    let restoringSeen: Record<string, unknown> | undefined;
    const probe = keys.slice(0, 60);
    await waitUntil(
      'a restoring answer',
      async () => {
        await Promise.all(
          probe.map(async (key, i) => {
            const { status, body } = await getJson(keyUrl(fresh[i % 3], key)).catch(() => ({
              status: 0,
              body: {} as Record<string, unknown>,
            }));
            if ((status === 200 || status === 404) && body.restoring === true) restoringSeen ??= body;
          }),
        );
        if (restoringSeen) return true;
        assert.ok(
          !(await caughtUpAndSettled(fresh)),
          'every worker finished restoring before any query saw it',
        );
        return false;
      },
      240_000,
      5,
    );
    const r = restoringSeen as Record<string, unknown>;
    assert.equal(typeof r.restored, 'number');
    assert.ok(r.total === null || (r.restored as number) <= (r.total as number), JSON.stringify(r));
    await waitUntil('fresh workers settled', () => settled(fresh), 180_000, 200);
    await waitUntil(
      'every key answered in full',
      async () => {
        const { status, body } = await getJson(`${fresh[1].url}/v1/stores/counts/range?limit=10000`);
        if (status !== 200 || body.restoring !== false) return false;
        const entries = body.entries as { key: string; value: number }[];
        return entries.length === KEYS && entries.every((e) => e.value === model.get(e.key));
      },
      120_000,
      500,
    );
    for (const w of fresh) assert.equal(await w.proc.stop(60_000), 0, w.proc.lines.slice(-20).join('\n'));
  });
});

/** All restores done: every worker printed a generation covering all partitions and /ready is 200. */
async function caughtUpAndSettled(workers: Worker[]): Promise<boolean> {
  if (!(await settled(workers))) return false;
  for (const w of workers) {
    const res = await fetch(`${w.url}/ready`).catch(() => undefined);
    if (res?.status !== 200) return false;
  }
  return true;
}
