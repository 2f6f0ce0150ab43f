/**
 * `eddy demo`: the shopping-cart job (examples/shopping-cart) on the embedded log, fed with a
 * generated stream of cart events, with a live progress line and a final summary: events/s, keys in
 * the store, a few carts, and where the data is.
 *
 * By default it works in a fresh temporary directory that it removes at the end; with
 * `--data-dir DIR` it keeps the data there (then `eddy store dump --job shopping-cart --store carts
 * --data-dir DIR` shows the carts, and running the demo again continues from the checkpoint).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpServer } from '../http/server.js';
import type { Log } from '../log/types.js';
import { SharedLog, StoreQueries } from '../runtime/control/index.js';
import { resolveThreads } from '../runtime/job-container.js';
import { runJob } from '../runtime/run-job.js';
import { intOption, parseCommandArgs } from './args.js';
import { openBackend } from './backend.js';
import { jobLogger, MONITORING_HELP, MONITORING_OPTIONS, startMonitoringServer } from './http-option.js';
import type { CommandIO } from './main.js';
import { bar, formatRate, ProgressLine } from './progress.js';
import { restoreLine } from './run-command.js';
import { RUN_DEFAULTS } from './run-config.js';

const HELP = `Usage: eddy demo [options]

Runs the shopping-cart job on the embedded log: generates cart events (users add, update and
remove items, and check out), processes them with one task per partition, each keeping its carts
in an LMDB store with a compacted changelog, and prints throughput, state size and a few carts.

Options:
  --events N                events to generate (default 200000)
  --users N                 distinct users (default 20000)
  --partitions N            partitions of cart-events, i.e. tasks (default 4)
  --seed N                  seed of the event generator (default 42)
  --threads N|auto          worker threads the tasks are spread over (default 1: one event loop;
                            auto = min(cores, partitions))
  --data-dir DIR            keep the data in DIR (default: a temporary directory, removed at the end)
${MONITORING_HELP}
  -h, --help                show this help
`;

const OPTIONS = {
  events: { type: 'string' },
  users: { type: 'string' },
  partitions: { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  'data-dir': { type: 'string' },
  ...MONITORING_OPTIONS,
} as const;

const n = (v: number) => v.toLocaleString('en-US');

export async function demoCommand(args: string[], io: CommandIO): Promise<number> {
  const { values, help } = parseCommandArgs('demo', args, OPTIONS);
  if (help) {
    io.out(HELP);
    return 0;
  }
  const events = intOption(values, 'events', 200_000, 1) as number;
  const users = intOption(values, 'users', 20_000, 1) as number;
  const partitions = intOption(values, 'partitions', 4, 1, 256) as number;
  const seed = intOption(values, 'seed', 42, 0) as number;
  const threads = values.threads === 'auto' ? 'auto' : (intOption(values, 'threads', 1, 1, 1024) as number);
  const keep = typeof values['data-dir'] === 'string';
  const dataDir = keep ? (values['data-dir'] as string) : mkdtempSync(join(tmpdir(), 'eddy-demo-'));

  const { default: job } = await import('../../examples/shopping-cart/job.js');
  const { generateCartEvents } = await import('../../examples/shopping-cart/events.js');
  const { Producer } = await import('../log/producer.js');

  const out = (t: string) => io.out(t);
  const progress = new ProgressLine({ write: out, isTTY: process.stdout.isTTY });
  let log: Log | undefined;
  let http: HttpServer | undefined;
  const baseLogger = jobLogger(values, io);
  try {
    // one SharedLog and one StoreQueries for the job, its control socket and the /v1 routes
    const shared = new SharedLog(await openBackend({ ...RUN_DEFAULTS, dataDir }));
    log = shared;
    const queries = new StoreQueries(job);
    const { JobMonitor } = await import('../http/job-monitor.js');
    const { v1Routes } = await import('../http/v1-routes.js');
    const monitor = new JobMonitor(job.name, log, 'embedded');
    const logger = monitor.logger(baseLogger);
    http = await startMonitoringServer(values, monitor, io, logger, [v1Routes({ queries, log: shared })]);
    out(
      `Eddy demo: shopping carts — ${n(events)} events from ${n(users)} users over ${partitions} partitions\n`,
    );
    out(`data directory: ${dataDir}${keep ? '' : ' (temporary)'}\n\n`);

    await log.ensureTopic('cart-events', { partitions, cleanup: 'delete' });
    const producer = new Producer(log);
    const encode = (v: unknown) => Buffer.from(JSON.stringify(v));
    let produced = 0;
    const feedStart = performance.now();
    for (const event of generateCartEvents({ users, events, seed })) {
      producer.send('cart-events', { key: Buffer.from(event.key), value: encode(event.value) });
      if (++produced % 10_000 === 0) {
        await producer.flush();
        progress.update(`feeding cart-events ${bar(produced / events)} ${n(produced)} events`);
      }
    }
    await producer.flush();
    await log.flush();
    const feedMs = performance.now() - feedStart;
    progress.done(
      `fed ${n(produced)} events in ${(feedMs / 1000).toFixed(2)} s (${formatRate((produced * 1000) / feedMs)} events/s)`,
    );

    // the rate is timed from the tasks' start (stores opened, restored, threads loaded): the start is
    // printed apart, so that one event loop and --threads N compare on their processing alone
    const runStart = performance.now();
    let started = runStart;
    let container: import('../runtime/job-container.js').JobContainer | undefined;
    let timer: NodeJS.Timeout | undefined;
    const metrics = await runJob(job, {
      log,
      dataDir,
      untilCaughtUp: true,
      threads,
      jobModule: demoJobModule(),
      controlSocket: keep, // with --data-dir, the shell tools work next to the demo
      queries,
      logger,
      onRestore: (p) => {
        monitor.onRestore(p);
        if (p.done) progress.done(restoreLine(p));
        else progress.update(restoreLine(p));
      },
      onStarted: (c) => {
        monitor.onStarted(c);
        container = c;
        started = performance.now();
        timer = setInterval(() => {
          const m = c.metrics();
          const secs = (performance.now() - started) / 1000;
          progress.update(
            `processing ${bar(m.processed / produced)} ${n(m.processed)} events, ${formatRate(m.processed / secs)}/s, ${m.commits} commits`,
          );
        }, 200);
      },
    })
      .then(
        (m) => {
          monitor.stopped();
          return m;
        },
        (err: unknown) => {
          monitor.stopped(err);
          throw err;
        },
      )
      .finally(() => clearInterval(timer));
    const runMs = performance.now() - started;
    const startMs = started - runStart;
    // what runJob ran on ('auto' resolved as it resolves it)
    const threadCount = await resolveThreads(job, { threads, jobModule: demoJobModule(), log });
    void container;
    progress.done(
      `processed ${n(metrics.processed)} events in ${(runMs / 1000).toFixed(2)} s: ${formatRate((metrics.processed * 1000) / runMs)} events/s (started in ${(startMs / 1000).toFixed(2)} s: stores opened and restored${threadCount === 1 ? '' : ', threads loaded'})`,
    );

    // The summary reads the stores and outputs back through the same log and store stack.
    const { openStore } = await import('../store/open-store.js');
    const { serdes } = await import('../store/serdes.js');
    let carts = 0;
    const samples: [string, unknown][] = [];
    for (let p = 0; p < partitions; p++) {
      const store = await openStore({
        name: `carts/${p}`,
        dir: join(dataDir, 'stores', job.name, 'carts', String(p)),
        engine: 'lmdb',
        key: serdes.string,
        value: serdes.json<unknown>(),
        changelog: false,
      });
      try {
        for (const { key, value } of store.all()) {
          carts++;
          if (samples.length < 3 && p === samples.length) samples.push([key, value]);
        }
      } finally {
        await store.close();
      }
    }
    let totals = 0;
    for (const info of (await log.describeTopic('cart-totals')).partitions)
      totals += info.endOffset - info.earliestOffset;
    const ranOn = threadCount === 1 ? 'on one event loop' : `on ${threadCount} worker threads`;
    out('\nSummary\n');
    out(
      `  events processed     ${n(metrics.processed)} (${formatRate((metrics.processed * 1000) / runMs)} events/s ${ranOn})\n`,
    );
    out(`  open carts in store  ${n(carts)} (store "carts", ${partitions} partitions, LMDB + changelog)\n`);
    out(`  cart totals emitted  ${n(totals)} (topic cart-totals)\n`);
    out(`  commits              ${metrics.commits}; dead-lettered events ${metrics.deadLettered}\n`);
    out('\nA few carts:\n');
    for (const [user, cart] of samples) out(`  ${user}: ${JSON.stringify(cart)}\n`);
    if (keep) {
      out(
        `\nInspect the state: eddy store dump --job ${job.name} --store carts --data-dir ${dataDir} --limit 5\n`,
      );
    }
    return 0;
  } finally {
    try {
      await http?.close();
    } finally {
      await log?.close();
    }
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The file of the demo job (each worker thread loads it): the compiled `.js`, or the `.ts` source. */
function demoJobModule(): string {
  const js = fileURLToPath(new URL('../../examples/shopping-cart/job.js', import.meta.url));
  return existsSync(js) ? js : js.replace(/\.js$/, '.ts');
}
