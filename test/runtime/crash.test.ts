/**
 * Crash test of the runtime: a counting job over 1,000,000 input messages, run by the real `eddy run`
 * in a child process that is SIGKILLed at 20 random instants and restarted each time, then run to
 * the end. Exactly-once: every key's count equals its number of input messages, and every milestone
 * output appears exactly once. At-least-once: no count is lower than its number of messages.
 *
 * The same on the memory engine (its state survives restarts through snapshot files plus the
 * changelog tail), on fewer messages and kills to keep CI short (EDDY_CRASH_MEMORY_MESSAGES and
 * EDDY_CRASH_MEMORY_KILLS run the full size: 1000000 and 20).
 *
 * Those two run `--threads 1` (one event loop); the same job again with `--threads 2` (its 4 tasks
 * on two worker threads, one log owner), on LMDB, on fewer messages and kills in CI
 * (EDDY_CRASH_THREADS_MESSAGES=1000000 EDDY_CRASH_THREADS_KILLS=20 run the full size).
 *
 * EDDY_CRASH_SEGMENT_BYTES (e.g. 262144) gives the job's changelog small segments, so the log's
 * compaction runs under the kills (the default 64 MiB segments hardly roll in these runs).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { Producer } from '../../src/log/producer.js';
import { CheckpointStore } from '../../src/runtime/checkpoint.js';
import { checkpointTopic } from '../../src/runtime/job.js';
import { SnapshottedMemoryEngine } from '../../src/store/engines/snapshotted-memory-engine.js';
import { openStore } from '../../src/store/open-store.js';
import { serdes } from '../../src/store/serdes.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

const MESSAGES = Number(process.env.EDDY_CRASH_MESSAGES ?? 1_000_000);
const KEYS = 10_000;
const KILLS = Number(process.env.EDDY_CRASH_KILLS ?? 20);
const PARTITIONS = 4;
const MEMORY_MESSAGES = Number(process.env.EDDY_CRASH_MEMORY_MESSAGES ?? 400_000);
const MEMORY_KILLS = Number(process.env.EDDY_CRASH_MEMORY_KILLS ?? 6);
const THREADS_MESSAGES = Number(process.env.EDDY_CRASH_THREADS_MESSAGES ?? 200_000);
const THREADS_KILLS = Number(process.env.EDDY_CRASH_THREADS_KILLS ?? 4);
const SEED = Number(process.env.EDDY_CRASH_SEED ?? Date.now() % 100_000);
/** `segmentBytes` of the job's changelog (default: the log's, 64 MiB). */
const CHANGELOG_SEGMENT_BYTES =
  process.env.EDDY_CRASH_SEGMENT_BYTES === undefined
    ? undefined
    : Number(process.env.EDDY_CRASH_SEGMENT_BYTES);

type Engine = 'lmdb' | 'memory';

/** One crash run's size, store engine and `--threads`. */
interface Run {
  readonly engine: Engine;
  readonly messages: number;
  readonly kills: number;
  readonly threads: number;
}
const root = new URL('../..', import.meta.url).pathname;
const jobFile = join(root, 'test/runtime/fixtures/count-job.ts');

async function feed(dataDir: string, messages: number): Promise<void> {
  const log = await openEmbeddedLog({ dir: join(dataDir, 'log'), fsync: 'commit' });
  try {
    await log.createTopic('events', { partitions: PARTITIONS });
    // small changelog segments keep compaction busy under the kills (a changelog tail past a
    // checkpoint must never compact away what the store restores to)
    if (CHANGELOG_SEGMENT_BYTES !== undefined) {
      await log.createTopic('counter-counts-changelog', {
        partitions: PARTITIONS,
        cleanup: 'compact',
        segmentBytes: CHANGELOG_SEGMENT_BYTES,
      });
    }
    const producer = new Producer(log);
    for (let i = 0; i < messages; i++) {
      producer.send('events', { key: Buffer.from(`k${i % KEYS}`), value: Buffer.from(String(i)) });
      if (i % 50_000 === 49_999) await producer.flush();
    }
    await producer.flush();
    await log.flush();
  } finally {
    await log.close();
  }
}

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function runJob(
  dataDir: string,
  exactlyOnce: boolean,
  { engine, threads }: Run,
  killAfterMs?: number,
): Promise<{
  code: number | null;
  killed: boolean;
  stderr: string;
  /** From the kill's clock start to the job's "started N tasks" (its restores), if it got there. */
  startedAfterMs?: number;
}> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'bin/eddy.js'),
        'run',
        jobFile,
        '--data-dir',
        dataDir,
        '--until-caught-up',
        '--threads',
        String(threads),
      ],
      {
        cwd: root,
        env: {
          ...process.env,
          EDDY_FROM_SOURCE: '1',
          EXACTLY_ONCE: exactlyOnce ? '1' : '0',
          STORE_ENGINE: engine,
          // commits and snapshot files often, so that runs short enough to spread the kills over
          // the input (a fast machine processes the memory run's 400k messages in about a second)
          // still commit and leave a snapshot for the next run
          COMMIT_MS: '100',
          SNAPSHOT_MS: '100',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.add(child);
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    let armedAt: number | undefined;
    let startedAfterMs: number | undefined;
    const arm = () => {
      if (killAfterMs === undefined || timer !== undefined) return;
      armedAt = performance.now();
      timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, killAfterMs);
    };
    // The clock starts once the job file is loaded (one event loop: its first line, before the
    // log opens and the stores restore, so kills land in restores too) or, with threads, once the
    // tasks have started (each worker thread loads the sources through tsx again). Loading Node,
    // tsx and the sources takes seconds on a loaded machine: on CI, kills timed from the spawn
    // landed there run after run, and those test nothing but startup.
    const armed = threads === 1 ? /eddy run: job/ : /started \d+ tasks on \d+ threads/;
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
      if (armed.test(stderr)) arm();
      if (armedAt !== undefined && startedAfterMs === undefined && /started \d+ tasks/.test(stderr)) {
        startedAfterMs = performance.now() - armedAt;
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer);
      children.delete(child);
      resolve({ code, killed, stderr, startedAfterMs });
    });
  });
}

async function readCounts(dataDir: string, engine: Engine): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let p = 0; p < PARTITIONS; p++) {
    const dir = join(dataDir, 'stores', 'counter', 'counts', String(p));
    if (engine === 'memory') {
      // the last run closed cleanly: its last snapshot holds the whole state, with a clean marker
      const memory = SnapshottedMemoryEngine.open({ dir, name: `counts/${p}`, intervalMs: 0 });
      try {
        assert.equal(memory.opened.loaded, true, `partition ${p}: no snapshot after a clean close`);
        assert.match(Buffer.from(memory.readMeta() ?? []).toString(), /"clean":true/);
        const cursor = memory.range(undefined, undefined);
        for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
          counts.set(Buffer.from(e.key).toString(), JSON.parse(Buffer.from(e.value).toString()));
        }
      } finally {
        await memory.inner.close();
      }
      continue;
    }
    const store = await openStore({
      name: `counts/${p}`,
      dir,
      engine: 'lmdb',
      key: serdes.string,
      value: serdes.json<number>(),
      changelog: false,
    });
    try {
      for (const { key, value } of store.all()) counts.set(key, value);
    } finally {
      await store.close();
    }
  }
  return counts;
}

async function readMilestones(dataDir: string): Promise<string[]> {
  const log = await openEmbeddedLog({ dir: join(dataDir, 'log'), fsync: 'os' });
  const seen: string[] = [];
  try {
    const info = await log.describeTopic('milestones');
    for (const part of info.partitions) {
      let offset = part.earliestOffset;
      while (offset < part.endOffset) {
        const records = await log.read('milestones', part.partition, offset, { maxRecords: 10_000 });
        if (records.length === 0) break;
        for (const r of records) seen.push(`${r.key?.toString()}=${r.value?.toString()}`);
        offset = records[records.length - 1].offset + 1;
      }
    }
  } finally {
    await log.close();
  }
  return seen;
}

/** Input messages committed so far: the sum of the checkpointed input offsets. */
async function committed(dataDir: string): Promise<number> {
  const log = await openEmbeddedLog({ dir: join(dataDir, 'log'), fsync: 'os' });
  try {
    const topics = await log.listTopics();
    if (!topics.includes(checkpointTopic('counter'))) return 0;
    const checkpoints = await new CheckpointStore(log, checkpointTopic('counter')).readAll();
    let sum = 0;
    for (const cp of checkpoints.values()) for (const offset of Object.values(cp.inputs)) sum += offset;
    return sum;
  } finally {
    await log.close();
  }
}

async function crashAndRecover(t: { after(fn: () => void): void }, exactlyOnce: boolean, run: Run) {
  const { engine, messages: MESSAGES, kills: KILLS } = run;
  const dataDir = tempDir(t, 'eddy-crash-');
  await feed(dataDir, MESSAGES);
  const rnd = prng(SEED + (exactlyOnce ? 1 : 0));
  let kills = 0;
  let finishedEarly = 0;
  // The kill delay adapts so that the kills spread over the whole input: each run should commit
  // its share of what is left before its kill. The clock starts once the job file is loaded, with
  // threads once the tasks started (see runJob), so it starts short: on a quiet machine the memory
  // engine's first run committed all its 400k messages in 1.1 s, and with threads 1.5 s after the
  // start was enough for the first run to process the whole input. Then each delay is the last run's
  // restore time plus the share at the processing rate measured after its restore: restores vary
  // (a reused store, a replayed tail, a rebuild), and a delay scaled by progress alone overshot
  // after a long rebuild (on LMDB the input ran out with 8 of 20 kills to go).
  let delay = 200;
  /** Committed messages and ms of processing (after the restores) of the killed runs so far. */
  let processedMsgs = 0;
  let processingMs = 0;
  let done = 0;
  /** Restores that started from local state (a snapshot file on memory) rather than from scratch. */
  let local = 0;
  /** One line per run (its kill, its progress, how its stores restored), for failure messages. */
  const history: string[] = [];
  /** How each store partition restored: the last progress line of each. */
  const modes = (stderr: string) => {
    const last = new Map<string, string>();
    for (const m of stderr.matchAll(/restoring (\S+?):? .*?(reused|\((replayed|rebuilt)\))/g))
      last.set(m[1], m[3] ?? 'reused');
    return [...last.values()].join(',');
  };
  for (let i = 0; i < KILLS; i++) {
    const killAt = Math.floor(delay * (0.7 + 0.6 * rnd()));
    const result = await runJob(dataDir, exactlyOnce, run, killAt);
    if (i > 0) local += (modes(result.stderr).match(/reused|replayed/g) ?? []).length;
    if (result.killed) kills++;
    else {
      assert.equal(result.code, 0, `run ${i} exited with ${result.code} (seed ${SEED}):\n${result.stderr}`);
      finishedEarly++;
    }
    const now = await committed(dataDir);
    const target = (MESSAGES - now) / (KILLS - i);
    const progressed = now - done;
    done = now;
    const started = result.startedAfterMs;
    history.push(
      `run ${i}: ${result.killed ? `killed at ${killAt} ms` : 'finished'}${started === undefined ? ' (in its restores)' : `, started after ${Math.round(started)} ms`}, +${progressed} committed, restores: ${modes(result.stderr) || 'none'}`,
    );
    if (result.killed && started !== undefined) {
      processedMsgs += progressed;
      processingMs += Math.max(0, killAt - started);
    }
    // the rate over every run so far (one run's is noisy: commits every 200 ms, warm-up); killed
    // in its restores: the next needs longer for them
    const restoreMs = started ?? killAt * 1.5;
    // at most twice or half the last delay: the first runs' rate is low (warm-up, the first
    // commit), and CI saw a second run of 10 s take 404k of 1M messages
    const next = Math.min(
      delay * 2,
      Math.max(
        delay / 2,
        processedMsgs === 0 ? delay * 2 : restoreMs + target / (processedMsgs / processingMs),
      ),
    );
    // a run should live long enough after its restores to commit (every COMMIT_MS, 100 ms here)
    // and, on memory, to write a snapshot file (every SNAPSHOT_MS, 100 ms) for the next; not every
    // run must: one restart from local state is enough
    delay = Math.max(restoreMs + 200, Math.min(20_000, next));
  }
  const last = await runJob(dataDir, exactlyOnce, run);
  assert.equal(last.code, 0, `final run failed (seed ${SEED}):\n${last.stderr}`);
  local += (modes(last.stderr).match(/reused|replayed/g) ?? []).length;
  // every restart after the first run found some local state: LMDB's files, or memory's snapshots
  history.push(`final run: restores: ${modes(last.stderr) || 'none'}`);
  assert.ok(
    local > 0,
    `seed ${SEED}: no restart reused or replayed local state (${engine}):\n${history.join('\n')}`,
  );

  const counts = await readCounts(dataDir, engine);
  assert.equal(counts.size, KEYS, `seed ${SEED}: expected ${KEYS} keys`);
  const perKey = MESSAGES / KEYS;
  let low = 0;
  let high = 0;
  for (const [key, n] of counts) {
    if (n < perKey) low++;
    if (n > perKey) high++;
    if (exactlyOnce) assert.equal(n, perKey, `seed ${SEED}: ${key} counted ${n}, expected ${perKey}`);
  }
  assert.equal(low, 0, `seed ${SEED}: ${low} keys counted fewer than ${perKey}`);
  const milestones = await readMilestones(dataDir);
  if (exactlyOnce) {
    assert.equal(milestones.length, MESSAGES / 10, `seed ${SEED}: milestones`);
    assert.equal(new Set(milestones).size, milestones.length, `seed ${SEED}: a milestone was emitted twice`);
  } else {
    assert.ok(milestones.length >= MESSAGES / 10);
  }
  return { kills, finishedEarly, overCounted: high, history };
}

for (const run of [
  { engine: 'lmdb', messages: MESSAGES, kills: KILLS, threads: 1 },
  { engine: 'memory', messages: MEMORY_MESSAGES, kills: MEMORY_KILLS, threads: 1 },
  { engine: 'lmdb', messages: THREADS_MESSAGES, kills: THREADS_KILLS, threads: 2 },
] as const satisfies readonly Run[]) {
  const { engine, messages, kills, threads } = run;
  const on = threads === 1 ? 'one event loop' : `${threads} threads`;
  // the time limit is per delivery mode (a full-size run with threads on a loaded machine needs it)
  describe(`a job SIGKILLed at random instants, ${engine} engine, ${on}`, () => {
    it(`with exactlyOnce, ends with every count exact and every output once (${kills} kills, ${messages} messages)`, {
      timeout: 15 * 60_000,
    }, async (t) => {
      const r = await crashAndRecover(t, true, run);
      for (const line of r.history) t.diagnostic(line);
      t.diagnostic(
        `seed ${SEED}: ${r.kills} kills landed, ${r.finishedEarly} runs finished before their kill`,
      );
      assert.ok(r.kills >= kills / 2, `only ${r.kills} of ${kills} kills landed mid-run`);
    });

    it(`at-least-once, ends with no count lower than its messages (${kills} kills)`, {
      timeout: 15 * 60_000,
    }, async (t) => {
      const r = await crashAndRecover(t, false, run);
      for (const line of r.history) t.diagnostic(line);
      t.diagnostic(`seed ${SEED}: ${r.kills} kills landed, ${r.overCounted} keys over-counted (allowed)`);
    });
  });
}
