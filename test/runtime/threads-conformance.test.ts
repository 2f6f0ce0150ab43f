/**
 * Conformance of job semantics across threads: the same randomized job (conformance-job.ts: puts,
 * deletes, adds, gets and ranges on a changelogged store, a window, two input topics, two output
 * topics) over the same random input, run once with `threads: 1` (one event loop, no worker) and once
 * with `threads: 3` (its 6 tasks on three worker threads), on the real embedded log in a temp dir, in
 * both delivery modes. Both runs must end with:
 * - the same store contents per partition, and the changelog up to the checkpoint restoring exactly
 *   them;
 * - the same outputs per output partition: `out-a` (one writer per partition) record for record, in
 *   order; `out-b` (every task writes to every partition) the same subsequence from each task, in
 *   order, and the same last total per key;
 * - the same checkpoints: every input offset at the end of its partition, every store's changelog
 *   offset covering what the store holds.
 * Against the generated input itself: one output per input message, and every key's total the sum of
 * its adds. The seed is in the test names; EDDY_CONFORMANCE_SEED=<seed> repeats a run.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { Log } from '../../src/log/types.js';
import { CheckpointStore } from '../../src/runtime/checkpoint.js';
import { changelogTopic, checkpointTopic, type JobDefinition } from '../../src/runtime/job.js';
import { type RunJobOptions, runJob } from '../../src/runtime/run-job.js';
import { openStore } from '../../src/store/open-store.js';
import { serdes } from '../../src/store/serdes.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';
import { type Op, OUT_B_PARTITIONS, type OutB } from './fixtures/conformance-job.js';

const SEED = Number(process.env.EDDY_CONFORMANCE_SEED ?? Date.now() % 100_000);
const PARTITIONS = 6;
/** Messages per input partition (of each of the two inputs), the `end` message included. */
const PER_PARTITION = Number(process.env.EDDY_CONFORMANCE_MESSAGES ?? 1000);
const KEYS = 40;
const INPUTS = ['ops-a', 'ops-b'] as const;

const fixtures = new URL('./fixtures/', import.meta.url).pathname;

type Input = Record<(typeof INPUTS)[number], Op[][]>;

function key(rnd: () => number): string {
  return `k${String(Math.floor(rnd() * KEYS)).padStart(2, '0')}`;
}

/** The random operations of every input partition; the last of each is `end`. */
function generate(seed: number): Input {
  const rnd = prng(seed);
  const input = {} as Input;
  for (const topic of INPUTS) {
    input[topic] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const ops: Op[] = [];
      for (let i = 0; i < PER_PARTITION - 1; i++) {
        const r = rnd();
        if (r < 0.35) ops.push({ op: 'put', k: key(rnd), v: Math.floor(rnd() * 1e6).toString(36) });
        else if (r < 0.5) ops.push({ op: 'del', k: key(rnd) });
        else if (r < 0.8) ops.push({ op: 'add', k: key(rnd), n: 1 + Math.floor(rnd() * 9) });
        // a range flushes the store's cache to its engine first: a few, not to spend the test on it
        else if (r < 0.97) ops.push({ op: 'get', k: key(rnd) });
        else {
          const [lo, hi] = [key(rnd), key(rnd)].sort();
          ops.push({ op: 'range', lo, hi });
        }
      }
      ops.push({ op: 'end' });
      input[topic].push(ops);
    }
  }
  return input;
}

/** What one run left behind, in comparable form. */
interface Outcome {
  /** Per task partition: the store's entries, in key order. */
  stores: [string, unknown][][];
  /** Per task partition: the entries the changelog holds up to the checkpointed offset. */
  restored: [string, unknown][][];
  /** Per out-a partition: `key=value` in offset order. */
  outA: string[][];
  /** Per out-b partition: per writing task, its records in offset order. */
  outB: Record<string, string[]>[];
  /** Per out-b partition: the last total sent per store key. */
  totals: Record<string, number>[];
  /** Per task: its checkpointed input offsets. */
  inputs: Record<string, Record<string, number>>;
  processed: number;
  windows: number;
  /** Seconds: feeding the input, the job's run, reading the results back. */
  timing: { feed: number; run: number; read: number };
  /** The thread of each task partition, as the running job reported it. */
  threadOf: Map<number, number>;
}

async function readTopic(log: Log, topic: string, partition: number, upTo = Number.POSITIVE_INFINITY) {
  const out: { key: string | null; value: string | null; offset: number }[] = [];
  let offset = await log.earliestOffset(topic, partition);
  const end = await log.endOffset(topic, partition);
  while (offset < end) {
    const records = await log.read(topic, partition, offset, { maxRecords: 5000 });
    if (records.length === 0) break;
    for (const r of records) {
      if (r.offset > upTo) return out;
      out.push({ key: r.key?.toString() ?? null, value: r.value?.toString() ?? null, offset: r.offset });
    }
    offset = records[records.length - 1].offset + 1;
  }
  return out;
}

async function runOnce(
  t: { after(fn: () => void): void },
  exactlyOnce: boolean,
  threads: number,
  input: Input,
): Promise<Outcome> {
  const dataDir = tempDir(t, `eddy-conformance-${threads}-`);
  const jobModule = join(fixtures, `conformance-job-${exactlyOnce ? 'exactly-once' : 'at-least-once'}.ts`);
  const job = (await import(jobModule)).default as JobDefinition;
  const log = await openEmbeddedLog({ dir: join(dataDir, 'log'), fsync: 'commit' });
  const threadOf = new Map<number, number>();
  let processed: number;
  let windows: number;
  const started = performance.now();
  const timing = { feed: 0, run: 0, read: 0 };
  try {
    for (const topic of INPUTS) {
      await log.createTopic(topic, { partitions: PARTITIONS });
      for (let p = 0; p < PARTITIONS; p++) {
        const records = input[topic][p].map((op, i) => ({
          key: Buffer.from(op.op === 'range' || op.op === 'end' ? `m${i}` : op.k),
          value: Buffer.from(JSON.stringify(op)),
        }));
        for (let i = 0; i < records.length; i += 500) await log.append(topic, p, records.slice(i, i + 500));
      }
    }
    // out-b exists with another partition count than the job's: its records are routed by key
    await log.createTopic('out-b', { partitions: OUT_B_PARTITIONS });
    await log.flush();
    const options = {
      log,
      dataDir,
      untilCaughtUp: true,
      threads,
      jobModule,
      onStarted: (running: { taskViews(): { partition: number; thread?: number }[] }) => {
        for (const v of running.taskViews()) threadOf.set(v.partition, v.thread ?? -1);
      },
    } as RunJobOptions;
    timing.feed = (performance.now() - started) / 1000;
    const metrics = await runJob(job, options);
    timing.run = (performance.now() - started) / 1000 - timing.feed;
    processed = metrics.processed;
    windows = metrics.task.windows ?? 0;

    const outcome: Omit<Outcome, 'stores'> = {
      restored: [],
      outA: [],
      outB: [],
      totals: [],
      inputs: {},
      processed,
      windows,
      threadOf,
      timing,
    };
    for (let p = 0; p < PARTITIONS; p++) {
      outcome.outA.push((await readTopic(log, 'out-a', p)).map((r) => `${r.key}=${r.value}`));
    }
    for (let p = 0; p < OUT_B_PARTITIONS; p++) {
      const bySource: Record<string, string[]> = {};
      const totals: Record<string, number> = {};
      for (const r of await readTopic(log, 'out-b', p)) {
        const v = JSON.parse(r.value as string) as OutB;
        if (v.src === 'total') totals[r.key as string] = v.total;
        else (bySource[v.src] ??= []).push(`${r.key}=${v.offset}|${v.result}`);
      }
      outcome.outB.push(bySource);
      outcome.totals.push(totals);
    }
    const checkpoints = await new CheckpointStore(log, checkpointTopic(job.name)).readAll();
    const changelog = changelogTopic(job.name, 'state');
    for (let p = 0; p < PARTITIONS; p++) {
      const cp = checkpoints.get(`Partition ${p}`);
      assert.ok(cp, `seed ${SEED}, threads ${threads}: no checkpoint of task ${p}`);
      outcome.inputs[cp.task] = { ...cp.inputs };
      const covered = cp.changelogs.state;
      assert.equal(typeof covered, 'number', `seed ${SEED}: task ${p}'s checkpoint has no changelog offset`);
      const state = new Map<string, unknown>();
      for (const r of await readTopic(log, changelog, p, covered)) {
        if (r.value === null) state.delete(r.key as string);
        else state.set(r.key as string, JSON.parse(r.value));
      }
      outcome.restored.push([...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    await log.close();

    const stores: [string, unknown][][] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const store = await openStore({
        name: `state/${p}`,
        dir: join(dataDir, 'stores', job.name, 'state', String(p)),
        engine: 'lmdb',
        key: serdes.string,
        value: serdes.json<unknown>(),
        changelog: false,
      });
      try {
        const entries: [string, unknown][] = [];
        for (const { key, value } of store.all()) entries.push([key, value]);
        stores.push(entries);
      } finally {
        await store.close();
      }
    }
    timing.read = (performance.now() - started) / 1000 - timing.feed - timing.run;
    return { ...outcome, stores };
  } finally {
    await log.close();
  }
}

/** The checks against the input alone: one output per message, each key's total the sum of its adds. */
function checkAgainstInput(o: Outcome, input: Input, label: string): void {
  assert.equal(o.processed, 2 * PARTITIONS * PER_PARTITION, `${label}: messages processed`);
  for (let p = 0; p < PARTITIONS; p++) {
    assert.equal(
      o.outA[p].length,
      PER_PARTITION,
      `${label}: out-a/${p} has one record per ops-a/${p} message`,
    );
    const fromB = o.outB.reduce((n, bySource) => n + (bySource[p]?.length ?? 0), 0);
    assert.equal(fromB, PER_PARTITION, `${label}: out-b has one record per ops-b/${p} message`);
    const expected = new Map<string, number>();
    for (const topic of INPUTS) {
      for (const op of input[topic][p]) {
        if (op.op !== 'add') continue;
        const k = `${topic === 'ops-a' ? 'a' : 'b'}:total:${op.k}`;
        expected.set(k, (expected.get(k) ?? 0) + op.n);
      }
    }
    const totals = new Map(o.stores[p].filter(([k]) => k.includes(':total:')) as [string, number][]);
    assert.deepEqual(totals, expected, `${label}: task ${p}'s totals are the sums of its adds`);
    const sent = new Map<string, number>();
    for (const last of o.totals) {
      for (const [k, total] of Object.entries(last))
        if (k.startsWith(`${p}/`)) sent.set(k.slice(`${p}/`.length), total);
    }
    assert.deepEqual(sent, expected, `${label}: the last total task ${p} sent per key is its final total`);
    assert.equal(
      o.stores[p].filter(([k]) => k.includes(':pending:')).length,
      0,
      `${label}: task ${p} left pending adds after its end messages`,
    );
    for (const topic of INPUTS) {
      assert.equal(
        o.inputs[`Partition ${p}`][`${topic}/${p}`],
        PER_PARTITION,
        `${label}: task ${p}'s checkpoint of ${topic}/${p} is not at its end`,
      );
    }
  }
}

// the time limit is a hang guard: from the sources, three worker threads took 80 s to start at load 60
for (const exactlyOnce of [false, true]) {
  const mode = exactlyOnce ? 'exactly-once' : 'at-least-once';
  describe(`a job on threads behaves as on one event loop (${mode}, seed ${SEED})`, {
    timeout: 900_000,
  }, () => {
    it(`threads: 1 and threads: 3 end with the same stores, outputs and checkpoints (seed ${SEED})`, async (t) => {
      const input = generate(SEED + (exactlyOnce ? 1 : 0));
      const one = await runOnce(t, exactlyOnce, 1, input);
      const three = await runOnce(t, exactlyOnce, 3, input);
      t.diagnostic(
        `seed ${SEED}: ${one.processed} messages; windows ran ${one.windows} times on 1 thread, ${three.windows} on 3; feed/run/read ${Object.values(
          one.timing,
        )
          .map((s) => s.toFixed(1))
          .join('/')} s on 1 thread, ${Object.values(three.timing)
          .map((s) => s.toFixed(1))
          .join('/')} s on 3`,
      );
      for (const [label, o, threads] of [
        ['threads: 1', one, 1],
        ['threads: 3', three, 3],
      ] as const) {
        const where = `seed ${SEED}, ${mode}, ${label}`;
        checkAgainstInput(o, input, where);
        assert.ok(o.windows > 0, `${where}: window never ran`);
        assert.equal(
          o.threadOf.size,
          PARTITIONS,
          `${where}: the running job reported ${o.threadOf.size} tasks`,
        );
        const used = new Set(o.threadOf.values());
        if (threads === 1) assert.deepEqual([...used], [0], `${where}: one event loop reports thread 0`);
        else assert.equal(used.size, 3, `${where}: tasks ran on threads ${[...used].join(', ')}`);
        for (let p = 0; p < PARTITIONS; p++) {
          assert.deepEqual(
            o.restored[p],
            o.stores[p],
            `${where}: task ${p}'s changelog does not restore its store`,
          );
        }
      }
      const where = `seed ${SEED}, ${mode}`;
      for (let p = 0; p < PARTITIONS; p++) {
        assert.deepEqual(three.stores[p], one.stores[p], `${where}: store of task ${p}`);
        assert.deepEqual(three.outA[p], one.outA[p], `${where}: out-a/${p}`);
      }
      for (let p = 0; p < OUT_B_PARTITIONS; p++) {
        assert.deepEqual(three.outB[p], one.outB[p], `${where}: out-b/${p}, per writing task`);
        assert.deepEqual(three.totals[p], one.totals[p], `${where}: out-b/${p}, last total per key`);
      }
      assert.deepEqual(three.inputs, one.inputs, `${where}: checkpointed input offsets`);
    });
  });
}
