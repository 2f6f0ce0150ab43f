/**
 * Kafka benchmark, on a real broker started for the run (`scripts/kafka start`, one node, KRaft, on
 * 127.0.0.1; stopped at the end, and by its watchdog if this process dies):
 *
 * 1. restore: a changelog partition of `--keys` distinct keys (100-byte values) is restored into an
 *    LMDB store by `restoreStore` (what a task does when its local state is missing: read_committed
 *    fetches, then engine writes), records/s and MB/s of keys + values; next to a bare read of the
 *    same partition through `KafkaLog.read` (the fetch side alone).
 * 2. failover: three `eddy run --backend kafka` workers (separate processes and data dirs) run an
 *    at-least-once counting job over 6 partitions with `--fo-keys` keys of state, under a steady
 *    input trickle; one worker is SIGKILLed. Measured from what the broker shows, in two parts:
 *    - detection, the session-timeout part: from the SIGKILL until the group coordinator drops the
 *      dead member (DescribeGroups polled every 20 ms: the member gone or the group no longer
 *      stable). The session (10 s) runs from the member's last heartbeat, so this is 0-1 heartbeat
 *      interval under 10 s;
 *    - from the detection until each lost task's output partition grows again (the ends of the
 *      output partitions polled every 20 ms): the survivors produce again.
 *    Also printed: when the survivors logged `group rebalancing` and `restored` (their stderr, as
 *    received here), and each kept task's longest pause in output after the detection (input
 *    arrives every 0.1 s). Once without standbys (the survivors' stale local copies of the lost
 *    tasks are deleted first, so the new owner rebuilds the state from the changelog) and once with
 *    `--standbys 1` (the standby copy is current: reused or its tail replayed).
 *
 * The restore and the read are repeated `--reps` times (default 3; a fresh store each time) and
 * each run's records/s and CPU seconds of this process are printed, then the median. `--brokers
 * HOST:PORT` uses a running broker instead of starting one (the changelog topic is then named after
 * this process and deleted at the end; the failover part, which needs a broker of its own, is
 * skipped), so Eddy and Kafka Streams can be measured on one broker.
 *
 * With `EDDY_BENCH_LINES=1` the survivors' stderr lines after the SIGKILL are printed, timed from
 * the detection.
 *
 * Usage: node --import tsx bench/kafka.ts [--keys N] [--fo-keys N] [--reps N] [--engine lmdb|memory|rocksdb]
 *          [--brokers HOST:PORT] [--skip-restore] [--skip-failover] [--standbys 0|1 (only that failover)]
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KafkaLog, openKafkaLog } from '../src/log/kafka/kafka-log.js';
import type { AppendRecord } from '../src/log/types.js';
import { CheckpointStore, inputKey } from '../src/runtime/checkpoint.js';
import { LogChangelogSink } from '../src/runtime/log-changelog-sink.js';
import { type RestorableStore, restoreStore } from '../src/runtime/restore.js';
import { openStore } from '../src/store/open-store.js';
import { serdes } from '../src/store/serdes.js';
import { partitionForKey } from '../src/util/murmur2.js';
import { median } from './lib/stats.js';

const root = new URL('..', import.meta.url).pathname;
const SCRIPT = join(root, 'scripts/kafka');
const BIN = join(root, 'bin/eddy.js');
const JOB = join(root, 'test-kafka/fixtures/count-job.ts');

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}
const KEYS = arg('--keys', 1_000_000);
const REPS = arg('--reps', 3);
const ENGINE = (
  process.argv.includes('--engine') ? process.argv[process.argv.indexOf('--engine') + 1] : 'lmdb'
) as 'lmdb' | 'memory' | 'rocksdb';
const EXTERNAL = process.argv.includes('--brokers')
  ? process.argv[process.argv.indexOf('--brokers') + 1]
  : undefined;
const FO_KEYS = arg('--fo-keys', 300_000);
const PARTITIONS = 6;
/** The workers' group session timeout (`eddy run`'s default): how long until the group notices a death. */
const SESSION_TIMEOUT_S = 10;
const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const tmp = mkdtempSync(join(tmpdir(), 'eddy-bench-kafka-'));
const clusterDir = join(tmp, 'cluster');
const children = new Set<ChildProcess>();
let stopped = false;
function cleanup(): void {
  if (stopped) return;
  stopped = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  spawnSync(SCRIPT, ['stop', '--dir', clusterDir], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });

async function appendAll(log: KafkaLog, topic: string, partition: number, records: AppendRecord[]) {
  const chunks: AppendRecord[][] = [];
  for (let i = 0; i < records.length; i += 5000) chunks.push(records.slice(i, i + 5000));
  // a few appends in flight (the log keeps them in order per partition)
  for (let i = 0; i < chunks.length; i += 8)
    await Promise.all(chunks.slice(i, i + 8).map((c) => log.append(topic, partition, c)));
}

const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
};

async function benchRestore(log: KafkaLog): Promise<void> {
  const topic = EXTERNAL === undefined ? 'bench-changelog' : `bench-changelog-${process.pid}`;
  await log.createTopic(topic, { partitions: 1, cleanup: 'compact', segmentBytes: 256 << 20 });
  try {
    await restoreRuns(log, topic);
  } finally {
    if (EXTERNAL !== undefined) await log.deleteTopic(topic).catch(() => {});
  }
}

async function restoreRuns(log: KafkaLog, topic: string): Promise<void> {
  const value = Buffer.alloc(100, 7);
  let bytes = 0;
  const started = performance.now();
  for (let from = 0; from < KEYS; from += 100_000) {
    const records: AppendRecord[] = [];
    for (let i = from; i < Math.min(KEYS, from + 100_000); i++) {
      const key = Buffer.from(`key-${String(i).padStart(9, '0')}`);
      bytes += key.length + value.length;
      records.push({ key, value });
    }
    await appendAll(log, topic, 0, records);
  }
  const mb = bytes / 1e6;
  say(
    `changelog written: ${KEYS.toLocaleString('en-US')} records, ${mb.toFixed(1)} MB in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  const end = await log.endOffset(topic, 0);

  // the fetch side alone
  const readRates: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const cpu = process.cpuUsage();
    const t = performance.now();
    let read = 0;
    let offset = 0;
    while (offset < end) {
      const records = await log.read(topic, 0, offset, { maxRecords: 5000, maxBytes: 4 << 20 });
      if (records.length === 0) break;
      read += records.length;
      offset = records[records.length - 1].offset + 1;
    }
    const s = (performance.now() - t) / 1000;
    readRates.push(read / s);
    say(
      `read (KafkaLog.read, 5000 records / 4 MiB per read): ${read.toLocaleString('en-US')} records in ${s.toFixed(2)} s = ${Math.round(read / s).toLocaleString('en-US')} records/s, ${(mb / s).toFixed(1)} MB/s, ${cpuSeconds(cpu).toFixed(2)} CPU-s`,
    );
  }

  // the whole restore into a fresh store
  const restoreRates: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const dir = join(tmp, `restore-store-${rep}`);
    const sink = new LogChangelogSink(log, topic, 0, end, false);
    const store = (await openStore({
      name: 'bench/0',
      dir,
      engine: ENGINE,
      key: serdes.bytes,
      value: serdes.bytes,
      changelog: sink,
    })) as unknown as RestorableStore & { close(): Promise<void> };
    const cpu = process.cpuUsage();
    const t = performance.now();
    const result = await restoreStore(store, 'bench', log, topic, 0, () => {});
    const s = (performance.now() - t) / 1000;
    const cpuS = cpuSeconds(cpu);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    restoreRates.push(result.restored / s);
    say(
      `restore (restoreStore into ${ENGINE}, ${result.mode}): ${result.restored.toLocaleString('en-US')} records in ${s.toFixed(2)} s = ${Math.round(result.restored / s).toLocaleString('en-US')} records/s, ${(result.bytes / 1e6 / s).toFixed(1)} MB/s, ${cpuS.toFixed(2)} CPU-s`,
    );
  }
  say(
    `median of ${REPS}: read ${Math.round(median(readRates)).toLocaleString('en-US')} records/s, restore into ${ENGINE} ${Math.round(median(restoreRates)).toLocaleString('en-US')} records/s`,
  );
}

interface Worker {
  child: ChildProcess;
  lines: { at: number; line: string }[];
}

function spawnWorker(args: string[], env: Record<string, string>): Worker {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, EDDY_FROM_SOURCE: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  const w: Worker = { child, lines: [] };
  let rest = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) w.lines.push({ at: performance.now(), line });
  });
  return w;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms: number, every = 200) {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

const tasksOf = (line: string): number[] =>
  (/tasks \[([\d,]*)\]/.exec(line)?.[1] ?? '').split(',').filter(Boolean).map(Number);

async function benchFailover(log: KafkaLog, standbys: number): Promise<void> {
  const suffix = `-fo${standbys}`;
  const job = `kcount${suffix}`;
  const input = `${job}-in`;
  const output = `${job}-out`;
  await log.createTopic(input, { partitions: PARTITIONS });
  const byPartition: AppendRecord[][] = Array.from({ length: PARTITIONS }, () => []);
  const one = Buffer.from('1');
  for (let i = 0; i < FO_KEYS; i++) {
    const key = Buffer.from(`k${i}`);
    byPartition[partitionForKey(key, PARTITIONS)].push({ key, value: one });
  }
  await Promise.all(byPartition.map((records, p) => appendAll(log, input, p, records)));
  const workers = [0, 1, 2].map((i) =>
    spawnWorker(
      [
        'run',
        JOB,
        '--backend',
        'kafka',
        '--brokers',
        log.options.brokers.join(','),
        '--standbys',
        String(standbys),
        '--data-dir',
        join(tmp, `fo${standbys}-${i}`),
      ],
      { SUFFIX: suffix, EDDY_WORKER_ID: `w${i}` },
    ),
  );
  const lastGen = (w: Worker) => w.lines.filter((l) => l.line.startsWith('generation')).pop()?.line ?? '';
  const checkpoints = new CheckpointStore(log, `__eddy-${job}-checkpoints`);
  const caughtUp = async () => {
    const cps = await checkpoints.readAll().catch(() => undefined);
    if (!cps) return false;
    for (let p = 0; p < PARTITIONS; p++) {
      const next = cps.get(`Partition ${p}`)?.inputs[inputKey(input, p)] ?? 0;
      if (next < (await log.endOffset(input, p))) return false;
    }
    return true;
  };
  await waitFor('the initial state', caughtUp, 600_000, 1000);
  await waitFor(
    'a settled assignment',
    () =>
      workers.every(
        (w) => tasksOf(lastGen(w)).length === 2 && (standbys === 0 || /standby \[\d/.test(lastGen(w))),
      ),
    120_000,
  );
  await sleep(3000); // standbys caught up with the last commits
  // a steady trickle: 600 messages/s over every partition and every key
  let trickling = true;
  let n = 0;
  const trickle = (async () => {
    while (trickling) {
      const batch: AppendRecord[][] = Array.from({ length: PARTITIONS }, () => []);
      for (let i = 0; i < 60; i++, n++) {
        const key = Buffer.from(`k${(n * 7919) % FO_KEYS}`);
        batch[partitionForKey(key, PARTITIONS)].push({ key, value: one });
      }
      await Promise.all(batch.map((records, p) => log.append(input, p, records)));
      await sleep(100);
    }
  })();
  await sleep(2000);
  const victim = workers[0];
  const lost = tasksOf(lastGen(victim));
  if (standbys === 0) {
    // no warm copy anywhere: drop the stale copies early generations may have left on the survivors
    // (the first worker to join runs every task for a moment), so the new owners rebuild
    for (let i = 1; i < workers.length; i++)
      for (const p of lost)
        rmSync(join(tmp, `fo0-${i}`, 'stores', job, 'counts', String(p)), { recursive: true, force: true });
  }
  const mark = workers.map((w) => w.lines.length);
  const groupId = `eddy-${job}`;
  const describe = async () => (await log.admin.client.describeGroups({ groups: [groupId] })).get(groupId);
  const victimIds = [...((await describe())?.members.values() ?? [])]
    .filter((m) => m.clientId === `eddy-${job}-w0`)
    .map((m) => m.id);
  if (victimIds.length !== 1)
    throw new Error(`expected one group member of worker w0, got ${victimIds.length}`);
  victim.child.kill('SIGKILL');
  const killedAt = performance.now();
  // Watch, from the SIGKILL on, what the broker shows: the group (the dead member's session expiring
  // ends its membership and starts a rebalance) and the output partitions' ends (a survivor's output).
  let detected: { before: number; at: number } | undefined;
  let polled = killedAt;
  const watchGroup = (async () => {
    while (detected === undefined) {
      const sent = performance.now();
      const g = await describe().catch(() => undefined);
      const now = performance.now();
      if (g !== undefined && (g.state !== 'STABLE' || !g.members.has(victimIds[0])))
        detected = { before: polled, at: now };
      polled = sent;
      if (detected === undefined) await sleep(20);
    }
  })();
  const ends = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => log.endOffset(output, p)));
  /** Each output partition's growth times (ms after the SIGKILL). */
  const grew: number[][] = Array.from({ length: PARTITIONS }, () => []);
  let watching = true;
  const watchOutput = (async () => {
    while (watching) {
      const now = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => log.endOffset(output, p)));
      const at = performance.now() - killedAt;
      for (let p = 0; p < PARTITIONS; p++) {
        if (now[p] > ends[p]) grew[p].push(at);
        ends[p] = now[p];
      }
      await sleep(20);
    }
  })();
  await watchGroup;
  const detectedAt = (detected as { before: number; at: number }).at - killedAt;
  const detectedAfter = (detected as { before: number; at: number }).before - killedAt;
  const resumedAfter = (p: number) => grew[p].find((t) => t > detectedAt);
  await waitFor(
    'the lost tasks to produce again',
    () => lost.every((p) => resumedAfter(p) !== undefined),
    120_000,
    50,
  );
  await sleep(2000); // the kept tasks' output over the rebalance
  watching = false;
  await watchOutput;
  const resumed = lost.map((p) => (resumedAfter(p) as number) - detectedAt);
  const kept = Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => !lost.includes(p));
  /** A kept task's longest pause in output from the detection to the end of the watch. */
  const pause = (p: number) => {
    let longest = 0;
    let last = detectedAt;
    for (const t of grew[p]) {
      if (t <= detectedAt) continue;
      longest = Math.max(longest, t - last);
      last = t;
    }
    return longest;
  };
  const early = lost.filter((p) => grew[p].some((t) => t > 1000 && t <= detectedAt));
  // restored: each lost task's restore finished on its new owner (its container starts right after)
  const restores = new Map<number, { at: number; line: string }>();
  await waitFor(
    'the lost tasks restored',
    () => {
      for (let i = 1; i < workers.length; i++)
        for (const { at, line } of workers[i].lines.slice(mark[i]))
          for (const p of lost) if (line.startsWith(`restored counts/${p}:`)) restores.set(p, { at, line });
      return restores.size === lost.length;
    },
    60_000,
  );
  const restoredAt = Math.max(...[...restores.values()].map((r) => r.at)) - killedAt;
  /** The survivors' first line after the detection that says they saw the rebalance. */
  const noticed = workers
    .slice(1)
    .map((w, i) => w.lines.slice(mark[i + 1]).find((l) => l.line.startsWith('group rebalancing'))?.at)
    .filter((t): t is number => t !== undefined)
    .map((t) => t - killedAt - detectedAt);
  trickling = false;
  await trickle;
  const s = (ms: number) => (ms / 1000).toFixed(2);
  say(
    `failover, standbys ${standbys}, ${FO_KEYS.toLocaleString('en-US')} keys over ${PARTITIONS} tasks, tasks [${lost.join(',')}] lost:\n` +
      `  detection (session timeout part): the broker dropped the dead member ${s(detectedAt)} s after the SIGKILL (between ${s(detectedAfter)} and ${s(detectedAt)} s; session timeout ${SESSION_TIMEOUT_S} s, counted from its last heartbeat)\n` +
      `  detection -> survivors' first output of the lost tasks: ${s(Math.max(...resumed))} s (per task ${lost.map((p, i) => `${p}: ${s(resumed[i])}`).join(', ')})\n` +
      `  survivors saw the rebalance ${noticed.length === 0 ? '(their stderr has no "group rebalancing" line)' : `${noticed.map(s).join(' and ')} s after detection (their stderr)`}; restored ${s(restoredAt - detectedAt)} s after detection (${[...restores.values()].map((r) => r.line.replace(/^restored /, '')).join('; ')})\n` +
      `  kept tasks' longest output pause after detection: ${kept.map((p) => `${p}: ${s(pause(p))}`).join(', ')} s (input every 0.1 s)` +
      (early.length > 0
        ? `\n  warning: output of lost tasks [${early.join(',')}] grew between 1 s after the SIGKILL and the detection`
        : ''),
  );
  if (process.env.EDDY_BENCH_LINES === '1') {
    // the survivors' stderr from the SIGKILL on, timed from the detection
    for (let i = 1; i < workers.length; i++)
      for (const { at, line } of workers[i].lines.slice(mark[i]))
        say(`    w${i} ${s(at - killedAt - detectedAt).padStart(6)} s  ${line}`);
  }
  for (const w of workers.slice(1)) w.child.kill('SIGTERM');
  await Promise.all(
    workers
      .slice(1)
      .map((w) => new Promise((r) => (w.child.exitCode === null ? w.child.once('exit', r) : r(0)))),
  );
}

async function main(): Promise<void> {
  const bootstrap =
    EXTERNAL ??
    execFileSync(
      SCRIPT,
      ['start', '--brokers', '1', '--dir', clusterDir, '--owner-pid', String(process.pid)],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    ).trim();
  const log = await openKafkaLog({ brokers: bootstrap.split(','), clientId: 'eddy-bench' });
  try {
    if (!process.argv.includes('--skip-restore')) await benchRestore(log);
    if (!process.argv.includes('--skip-failover') && EXTERNAL === undefined) {
      const only = process.argv.includes('--standbys') ? arg('--standbys', 1) : undefined;
      if (only === undefined || only === 0) await benchFailover(log, 0);
      if (only === undefined || only === 1) await benchFailover(log, 1);
    }
  } finally {
    await log.close();
    cleanup();
  }
}

await main();
