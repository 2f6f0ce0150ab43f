/**
 * The runtime benchmark, after LinkedIn's Samza benchmark: 100-byte messages with keys drawn from
 * 1,000,000 keys, processed by one container (one process, one event loop, so one core for the
 * job's own work), in three scenarios:
 *   1. message passing: every input message is sent to an output topic;
 *   2. store: a read-modify-write of the message's key in an LMDB store, no changelog;
 *   3. store + changelog: the same, with the store's changelog on (the Samza figure to beat:
 *      ~1.08M msgs/s on a 24-core node with RocksDB and changelog, ≈45,000 per core).
 * The input is written first (not timed); the time is from the container's start (restore included,
 * nothing to restore) until every input message is processed and committed.
 *
 * After scenario 3 on LMDB it also runs `lmdb-js alone` (`lmdbFloor`): scenario 3's store work on
 * lmdb-js called directly, nothing else, all on one thread: what a single-threaded use of LMDB gets
 * on the machine at hand. Eddy's lmdb stores commit their transactions on a writer thread
 * (`src/store/engines/lmdb-writer.ts`), so scenario 3 can pass it.
 *
 * `--http` measures what the HTTP layer costs instead: scenario 3 run in pairs, `--http` off and
 * on (the server of `eddy run --http` on 127.0.0.1, with a scraper in another process fetching
 * /metrics every second), 3 pairs interleaved (the order alternating), and the ratio on/off of each
 * pair and their median.
 *
 * `--threads N` spreads the tasks over N worker threads (one log owner on the main thread moves the
 * batches); `--threads 1,2` runs each scenario with each count in the same run and prints each
 * one's ratio to the first. The jobs are modules (bench/jobs/scenario-job.ts) so that worker threads
 * can load them; every count runs through `runJob`, timed from the job's start (`onStarted`: threads
 * loaded, stores opened, tasks initialised; the start is printed apart, as `start`) until its final
 * commit (every message processed and committed: Kafka Streams' harness likewise stops when the
 * committed input offset reaches the end); the close after it (tasks and stores closed, a memory
 * store's last snapshot written) is printed apart, as `close`. CPU and the loop's busy share are
 * over the same span.
 *
 * `--ceiling` measures the log owner instead: trivial tasks (no-op: the input only moves to the
 * threads; pass-through: message passing, the input moves in and the output back) on 1..N threads
 * (N: the largest `--threads`, default 2), the records per second the owner moves, the share of the
 * main thread's event loop that was busy, and the rate at which it would saturate (moved ÷ busy).
 *
 * `--rounds R` with several counts runs them R times per scenario, the order alternating from round
 * to round (1,2 then 2,1 …), and prints the median (and range) of the rounds' ratios: on a noisy
 * machine one round's ratio is not a figure.
 *
 * Usage: node --import tsx bench/runtime.ts [--messages N] [--keys K] [--partitions P] [--threads N[,M…] [--rounds R]]
 *          [--scenario S] [--engine memory|lmdb|rocksdb] [--brokers HOST:PORT,… (on Kafka)] [--exactly-once]
 *          [--http [--pairs N]] [--serve-http (the scenarios run with the HTTP server and its scraper, not compared)]
 *          [--ceiling]
 *
 * `--exactly-once` runs the job with `exactlyOnce: true` (outputs, changelog and checkpoint in one
 * transaction per commit; still `commitMs: 1000`, as Kafka Streams' side is run with).
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { JobMonitor } from '../src/http/job-monitor.js';
import { startHttpServer } from '../src/http/server.js';
import { openEmbeddedLog } from '../src/log/embedded/embedded-log.js';
import { openKafkaLog } from '../src/log/kafka/kafka-log.js';
import type { Log } from '../src/log/types.js';
import type { JobDefinition } from '../src/runtime/job.js';
import { type RunJobOptions, runJob } from '../src/runtime/run-job.js';
import { ThreadedContainer } from '../src/runtime/threads/index.js';
import { ENGINE_KINDS, type EngineKind } from '../src/store/engines/index.js';
import type { JobScenario } from './jobs/scenario-job.js';
import { median } from './lib/stats.js';
import { openRawLmdb, readCopy } from './store-engines.js';

export const SCENARIOS = ['message-passing', 'store-only', 'store-changelog'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface RuntimeBenchOptions {
  messages: number;
  keys: number;
  partitions: number;
  /** The store engine of scenarios 2 and 3 (default lmdb). */
  engine?: EngineKind;
  /** Kafka bootstrap servers: run on Kafka instead of the embedded log (fresh topics per scenario). */
  brokers?: string[];
  /** Run the job exactly-once (one transaction per commit). */
  exactlyOnce?: boolean;
  log?: (line: string) => void;
  /** Serve the job over HTTP (as `eddy run --http`) while a scraper fetches /metrics every second. */
  http?: boolean;
  /** Worker threads the tasks run on (default 1: one event loop, no worker). */
  threads?: number;
  /** The thread counts to run each scenario with (default `[threads ?? 1]`); ratios are to the first. */
  threadCounts?: readonly number[];
  /**
   * With several thread counts: run them this many times per scenario (default 1), the order
   * alternating from round to round, and print the median of the rounds' ratios.
   */
  rounds?: number;
}

export interface RuntimeBenchResult {
  scenario: JobScenario | 'lmdb-floor';
  messages: number;
  seconds: number;
  perSecond: number;
  /** The process's resident memory once the scenario processed everything (store state included). */
  rssBytes?: number;
  /** Messages per CPU-second of the whole process (user + system, every thread): what a shared machine's load disturbs least. */
  perCpuSecond?: number;
  /** The worker threads it ran on (1: one event loop). */
  threads?: number;
  /** CPU time of the whole process (every thread) over the run, in cores (CPU seconds ÷ seconds). */
  cores?: number;
  /** The busy share of the main thread's event loop over the run (the log owner's, with threads). */
  mainBusy?: number;
  /** The busy share of each task thread's event loop over the run (with more than one thread). */
  threadsBusy?: number[];
  /** Task threads' reads and appends whose bytes were transferred, all transfer slots being lent. */
  transfers?: number;
  /** Seconds from the call to the job's start (threads loaded, stores opened), not in `seconds`. */
  startSeconds?: number;
  /** Seconds from the final commit until the job returned (tasks and stores closed: a memory store's last snapshot), not in `seconds`. */
  closeSeconds?: number;
}

const jobModule = new URL('./jobs/scenario-job.ts', import.meta.url);
let loads = 0;

/**
 * The scenario's job from its module, with its parameters in the environment (which the worker
 * threads inherit when they start): a fresh import each time, as the module reads them once.
 */
async function scenarioJob(
  scenario: JobScenario,
  name: string,
  o: RuntimeBenchOptions,
): Promise<JobDefinition> {
  process.env.EDDY_BENCH_SCENARIO = scenario;
  process.env.EDDY_BENCH_NAME = name;
  process.env.EDDY_BENCH_ENGINE = o.engine ?? 'lmdb';
  process.env.EDDY_BENCH_EXACTLY_ONCE = o.exactlyOnce === true ? '1' : '0';
  return (await import(`${jobModule.href}?load=${++loads}`)).default as JobDefinition;
}

/** The input keys of partition `p`, in order: 8 bytes, a key out of `o.keys` and the partition. */
function* inputKeys(o: RuntimeBenchOptions, p: number, state: { seed: number }): Generator<Buffer> {
  const perPartition = Math.ceil(o.messages / o.partitions);
  for (let i = 0; i < perPartition; i++) {
    state.seed = (Math.imul(state.seed, 1103515245) + 12345) >>> 0;
    const k = Buffer.allocUnsafe(8);
    k.writeUInt32BE(state.seed % o.keys, 0);
    k.writeUInt32BE(p, 4);
    yield k;
  }
}

const SEED = 12345;

async function feed(log: Log, input: string, o: RuntimeBenchOptions): Promise<void> {
  await log.createTopic(input, { partitions: o.partitions });
  const value = Buffer.alloc(100, 0x61);
  const state = { seed: SEED };
  for (let p = 0; p < o.partitions; p++) {
    let batch: { key: Buffer; value: Buffer }[] = [];
    for (const key of inputKeys(o, p, state)) {
      batch.push({ key, value });
      if (batch.length === 5000) {
        await log.append(input, p, batch); // under Kafka's default 1 MB batch limit
        batch = [];
      }
    }
    if (batch.length > 0) await log.append(input, p, batch);
  }
  await log.flush();
}

/**
 * Scenario 3's store work on bare LMDB: the same keys, the same work on lmdb-js called directly on
 * one thread, and nothing else (no log, no changelog, no Eddy layers): a get per message (from
 * memory for a key written since the last flush), and per 100k distinct keys one synchronous
 * transaction putting each of them once, in key order (as the engine writes them). A runtime that
 * did its engine writes on its own thread could only be slower; Eddy's run on a writer thread.
 */
export async function lmdbFloor(o: RuntimeBenchOptions): Promise<RuntimeBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-lmdb-floor-'));
  const { env, db } = openRawLmdb(join(dir, 'data.mdb'));
  const value = Buffer.alloc(100, 0x61);
  try {
    const keys: Buffer[] = [];
    const state = { seed: SEED };
    for (let p = 0; p < o.partitions; p++) for (const k of inputKeys(o, p, state)) keys.push(k);
    const started = performance.now();
    const pending = new Map<string, Buffer>();
    const flush = (): void => {
      const ids = [...pending.keys()].sort(); // latin1 ids sort as their bytes do
      db.transactionSync(() => {
        for (const id of ids) db.putSync(pending.get(id) as Buffer, value);
      });
      pending.clear();
    };
    let found = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const id = key.toString('latin1');
      // read-modify-write: a key written since the last flush is read from memory (as the cache does)
      if (pending.has(id) || readCopy(db, key) !== undefined) found++;
      pending.set(id, key);
      if (pending.size === 100_000) flush();
    }
    flush();
    const seconds = (performance.now() - started) / 1000;
    const distinct = new Set(keys.map((k) => k.toString('latin1'))).size;
    if (found !== keys.length - distinct)
      throw new Error(`lmdb floor: ${found} reads found a key, expected ${keys.length - distinct}`);
    return { scenario: 'lmdb-floor', messages: keys.length, seconds, perSecond: keys.length / seconds };
  } finally {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const threaded = (c: unknown) => (c instanceof ThreadedContainer ? c : undefined);

export async function runScenario(
  scenario: JobScenario,
  o: RuntimeBenchOptions,
): Promise<RuntimeBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), `eddy-bench-${scenario}-`));
  // on Kafka the topics outlive the run: fresh names for each
  const run = o.brokers === undefined ? '' : `-${Date.now().toString(36)}`;
  const name = `bench-${scenario}${run}`;
  const input = `${name}-in`;
  const threads = o.threads ?? 1;
  const log =
    o.brokers === undefined
      ? await openEmbeddedLog({ dir: join(dir, 'log'), fsync: 'commit' })
      : await openKafkaLog({ brokers: o.brokers, clientId: 'eddy-bench' });
  try {
    await feed(log, input, o);
    const job = await scenarioJob(scenario, name, o);
    const http = o.http ? await serveOverHttp(job.name, log) : undefined;
    const spawned = performance.now();
    let cpu = process.cpuUsage();
    let elu = performance.eventLoopUtilization();
    let started = spawned;
    let threadsElu: EventLoopUtilization[] | undefined;
    let committed:
      | {
          at: number;
          cpu: NodeJS.CpuUsage;
          elu: EventLoopUtilization;
          threads?: EventLoopUtilization[];
          transfers?: number;
        }
      | undefined;
    const options = {
      log,
      dataDir: dir,
      untilCaughtUp: true,
      threads,
      jobModule: jobModule.pathname,
      onRestore: http?.monitor.onRestore,
      onStarted: (container) => {
        // the clock starts here: threads started, stores opened (nothing to restore), tasks initialised
        cpu = process.cpuUsage();
        elu = performance.eventLoopUtilization();
        started = performance.now();
        // and stops at the last commit (every message processed and committed), as Kafka Streams'
        // harness stops when the committed offset reaches the end; the close is printed apart
        container.on('commit', () => {
          committed = {
            at: performance.now(),
            cpu: process.cpuUsage(cpu),
            elu: performance.eventLoopUtilization(elu),
            threads: threaded(container)?.threadUtilization(threadsElu),
            transfers: threaded(container)?.transfers,
          };
        });
        http?.monitor.onStarted(container);
      },
    } satisfies RunJobOptions;
    try {
      const metrics = await runJob(job, options);
      const returned = performance.now();
      if (committed === undefined) throw new Error(`${name}: the job returned without a commit`);
      const seconds = (committed.at - started) / 1000;
      const used = committed.cpu;
      const mainBusy = committed.elu.utilization;
      const startSeconds = (started - spawned) / 1000;
      const closeSeconds = (returned - committed.at) / 1000;
      const processed = metrics.processed;
      const rssBytes = process.memoryUsage().rss;
      const perCpuSecond = (processed / (used.user + used.system)) * 1e6;
      return {
        scenario,
        messages: processed,
        seconds,
        perSecond: processed / seconds,
        rssBytes,
        perCpuSecond,
        threads,
        cores: (used.user + used.system) / 1e6 / seconds,
        mainBusy,
        threadsBusy: committed.threads?.map((u) => u.utilization),
        transfers: committed.transfers,
        startSeconds,
        closeSeconds,
      };
    } finally {
      await http?.close();
    }
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The HTTP server of `eddy run --http` for the job (its `monitor` attached to the job once that has
 * started, as `eddy run` does), and a scraper in a child process that GETs /metrics every second,
 * as Prometheus would.
 */
async function serveOverHttp(
  jobName: string,
  log: Log,
): Promise<{ monitor: JobMonitor; close(): Promise<void> }> {
  const monitor = new JobMonitor(jobName, log, log.backend);
  const server = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, monitor });
  const scraper = spawn(
    process.execPath,
    [
      '-e',
      `setInterval(() => fetch(${JSON.stringify(`${server.url}/metrics`)}).then((r) => r.text(), () => {}), 1000)`,
    ],
    { stdio: 'ignore' },
  );
  return {
    monitor,
    async close() {
      const exited = new Promise((resolve) => scraper.once('exit', resolve));
      scraper.kill('SIGKILL');
      await exited;
      await server.close();
    },
  };
}

/**
 * Scenario 3 with `--http` off and on, `pairs` times interleaved; prints each pair's ratios on/off —
 * of msgs/s, and of msgs per CPU-second of the process (the HTTP server's work included; steadier
 * than wall time on a loaded machine) — and the median of each. Returns the msgs/s median.
 */
export async function runHttpOverheadBench(o: RuntimeBenchOptions, pairs = 3): Promise<number> {
  const say = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  say(
    `--http overhead: scenario 3 (store + changelog), ${o.messages.toLocaleString('en-US')} messages, ${o.keys.toLocaleString('en-US')} keys, ${pairs} pairs off/on, a scraper GETs /metrics every second`,
  );
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    // the order alternates (off first, then on first), so a machine that slows down or speeds up
    // over a pair does not always count against the same side
    const first = await runScenario('store-changelog', { ...o, http: i % 2 === 1 });
    const second = await runScenario('store-changelog', { ...o, http: i % 2 === 0 });
    const [off, on] = i % 2 === 0 ? [first, second] : [second, first];
    const ratio = on.perSecond / off.perSecond;
    const cpuRatio = (on.perCpuSecond ?? Number.NaN) / (off.perCpuSecond ?? Number.NaN);
    ratios.push(ratio);
    cpuRatios.push(cpuRatio);
    say(
      `  pair ${i + 1}: off ${fmt(off.perSecond)} msgs/s (${fmt(off.perCpuSecond ?? 0)} per CPU-s), on ${fmt(on.perSecond)} msgs/s (${fmt(on.perCpuSecond ?? 0)} per CPU-s), on/off ${ratio.toFixed(3)}, per CPU-s ${cpuRatio.toFixed(3)}`,
    );
  }
  const m = median(ratios);
  const c = median(cpuRatios);
  say(
    `  median on/off ${m.toFixed(3)} (${((1 - m) * 100).toFixed(1)}% lost with --http); per CPU-s ${c.toFixed(3)} (${((1 - c) * 100).toFixed(1)}% more CPU per message)`,
  );
  return m;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export async function runRuntimeBench(
  scenarios: readonly Scenario[],
  o: RuntimeBenchOptions,
): Promise<RuntimeBenchResult[]> {
  const results: RuntimeBenchResult[] = [];
  const say = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const counts = o.threadCounts ?? [o.threads ?? 1];
  say(
    `runtime benchmark: ${o.messages.toLocaleString('en-US')} messages of 100 bytes, ${o.keys.toLocaleString('en-US')} keys, ${o.partitions} partitions, ${o.engine ?? 'lmdb'} stores, ${o.brokers === undefined ? 'embedded log' : `Kafka at ${o.brokers.join(',')}`}, ${o.exactlyOnce ? 'exactly-once' : 'at-least-once'}, one process, threads ${counts.join(', ')}`,
  );
  const report = (r: RuntimeBenchResult, label: string, base?: RuntimeBenchResult): void => {
    results.push(r);
    const threads = r.threads === undefined ? '' : `  threads ${r.threads}`;
    const ratio = base === undefined || base === r ? '' : `  ×${(r.perSecond / base.perSecond).toFixed(2)}`;
    const cpu =
      r.cores === undefined
        ? ''
        : `  cpu ${r.cores.toFixed(2)} cores, main loop ${Math.round((r.mainBusy ?? 0) * 100)}% busy${r.threadsBusy === undefined ? '' : `, threads ${r.threadsBusy.map((b) => `${Math.round(b * 100)}%`).join(' ')} busy`}${r.transfers ? `, ${r.transfers} transfers (slots all lent)` : ''}, start ${r.startSeconds?.toFixed(1)} s, close ${r.closeSeconds?.toFixed(1)} s`;
    say(
      `  ${label.padEnd(15)}${threads} ${fmt(r.perSecond).padStart(10)} msgs/s${ratio}  (${r.messages.toLocaleString('en-US')} in ${r.seconds.toFixed(2)} s)${r.rssBytes === undefined ? '' : `  rss ${Math.round(r.rssBytes / 2 ** 20)} MiB`}${r.perCpuSecond === undefined ? '' : `  ${fmt(r.perCpuSecond)} per CPU-s`}${cpu}`,
    );
  };
  const rounds = counts.length > 1 ? (o.rounds ?? 1) : 1;
  for (const s of scenarios) {
    // ratios[i][round]: counts[i] over counts[0] in that round; rates[i]: counts[i]'s msgs/s
    const ratios: number[][] = counts.map(() => []);
    const rates: number[][] = counts.map(() => []);
    for (let round = 0; round < rounds; round++) {
      // odd rounds run the counts in reverse, so a drift of the machine does not favour one count
      const order = counts.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      const results: RuntimeBenchResult[] = [];
      for (const i of order) results[i] = await runScenario(s, { ...o, threads: counts[i] });
      const base = results[0];
      results.forEach((r, i) => {
        report(r, rounds > 1 ? `${s} r${round + 1}` : s, counts.length > 1 ? base : undefined);
        ratios[i].push(r.perSecond / base.perSecond);
        rates[i].push(r.perSecond);
      });
    }
    if (rounds > 1) {
      for (let i = 1; i < counts.length; i++) {
        const spread = `×${Math.min(...ratios[i]).toFixed(2)}–×${Math.max(...ratios[i]).toFixed(2)}`;
        say(
          `  ${s}: threads ${counts[i]} over ${counts[0]}, median ×${median(ratios[i]).toFixed(2)} (${spread}) of ${rounds} rounds; median msgs/s ${fmt(median(rates[0]))} and ${fmt(median(rates[i]))}`,
        );
      }
    }
  }
  if (scenarios.includes('store-changelog') && (o.engine ?? 'lmdb') === 'lmdb' && o.brokers === undefined) {
    // what lmdb-js alone does with scenario 3's keys on one thread (the engine's writes on it too)
    report(await lmdbFloor(o), 'lmdb-js alone');
  }
  return results;
}

/** One row of the log owner ceiling: a trivial task on `threads` threads. */
export interface CeilingResult {
  task: 'no-op' | 'pass-through';
  threads: number;
  /** Input messages per second. */
  perSecond: number;
  /** Records per second the owner moved between the log and the threads (inputs, plus outputs). */
  movedPerSecond: number;
  /** The busy share of the main thread's event loop (the owner's). */
  mainBusy: number;
  /** Where the owner would saturate: moved ÷ busy. */
  saturatesAt: number;
  cores: number;
}

/**
 * The log owner's ceiling: trivial tasks on 1..maxThreads threads, so that what limits the rate is
 * the owner (reading, moving batches to the threads and outputs back, appending, committing), not
 * the tasks' work. With one thread there is no owner (one event loop does everything): for reference.
 */
export async function runOwnerCeiling(o: RuntimeBenchOptions, maxThreads: number): Promise<CeilingResult[]> {
  const say = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  say(
    `log owner ceiling: trivial tasks, ${o.messages.toLocaleString('en-US')} messages of 100 bytes, ${o.partitions} partitions, ${o.exactlyOnce ? 'exactly-once' : 'at-least-once'}, threads 1..${maxThreads}`,
  );
  const rows: CeilingResult[] = [];
  for (const [task, scenario] of [
    ['no-op', 'no-op'],
    ['pass-through', 'message-passing'],
  ] as const) {
    for (let threads = 1; threads <= maxThreads; threads++) {
      const r = await runScenario(scenario, { ...o, threads });
      const moved = task === 'no-op' ? r.perSecond : 2 * r.perSecond;
      const row: CeilingResult = {
        task,
        threads,
        perSecond: r.perSecond,
        movedPerSecond: moved,
        mainBusy: r.mainBusy ?? 1,
        saturatesAt: moved / Math.max(r.mainBusy ?? 1, 0.01),
        cores: r.cores ?? 0,
      };
      rows.push(row);
      say(
        `  ${task.padEnd(12)}  threads ${threads}  ${fmt(row.perSecond).padStart(10)} msgs/s  ${fmt(moved).padStart(10)} records/s moved  main loop ${Math.round(row.mainBusy * 100)}% busy  -> owner saturates at ~${fmt(row.saturatesAt)} records/s  (cpu ${row.cores.toFixed(2)} cores)`,
      );
    }
  }
  return rows;
}

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const only = flag('scenario');
  if (only !== undefined && !(SCENARIOS as readonly string[]).includes(only)) {
    console.error(`unknown scenario "${only}"; one of ${SCENARIOS.join(', ')}`);
    process.exit(2);
  }
  const engine = flag('engine') ?? 'lmdb';
  if (!(ENGINE_KINDS as readonly string[]).includes(engine)) {
    console.error(`unknown engine "${engine}"; one of ${ENGINE_KINDS.join(', ')}`);
    process.exit(2);
  }
  const threadCounts = (flag('threads') ?? '1').split(',').map(Number);
  const rounds = Number(flag('rounds') ?? 1);
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error(`--rounds ${flag('rounds')}: a positive integer`);
    process.exit(2);
  }
  if (threadCounts.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(`--threads ${flag('threads')}: a thread count or a comma list of them, e.g. 1,2`);
    process.exit(2);
  }
  const brokers = flag('brokers');
  if (process.argv.includes('--http')) {
    await runHttpOverheadBench(
      {
        engine: engine as EngineKind,
        messages: Number(flag('messages') ?? 1_000_000),
        keys: Number(flag('keys') ?? 1_000_000),
        partitions: Number(flag('partitions') ?? 1),
        threads: threadCounts[0],
      },
      Number(flag('pairs') ?? 3),
    );
    process.exit(0);
  }
  if (process.argv.includes('--ceiling')) {
    await runOwnerCeiling(
      {
        brokers: brokers === undefined ? undefined : brokers.split(','),
        messages: Number(flag('messages') ?? 1_000_000),
        keys: Number(flag('keys') ?? 1_000_000),
        partitions: Number(flag('partitions') ?? 4),
        exactlyOnce: process.argv.includes('--exactly-once'),
      },
      flag('threads') === undefined ? 2 : Math.max(...threadCounts),
    );
    process.exit(0);
  }
  await runRuntimeBench(only === undefined ? SCENARIOS : [only as Scenario], {
    engine: engine as EngineKind,
    brokers: brokers === undefined ? undefined : brokers.split(','),
    messages: Number(flag('messages') ?? 1_000_000),
    keys: Number(flag('keys') ?? 1_000_000),
    partitions: Number(flag('partitions') ?? 1),
    exactlyOnce: process.argv.includes('--exactly-once'),
    // one scenario served over HTTP, for timing it as a whole process against a run without
    http: process.argv.includes('--serve-http'),
    threadCounts,
    rounds,
  });
}
