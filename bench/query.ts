/**
 * The interactive-query benchmark (`eddy bench query`): the latency of key lookups against a job
 * while it processes.
 *
 * A child process plays `eddy run`: it runs a counting job (one LMDB store with a changelog, keys
 * drawn from `--keys`, `--partitions` tasks) on the embedded log, serves the `/v1/...` routes over
 * HTTP (Hono on Node's http server, as `--http` does) and the control socket, and feeds the job
 * `--rate` messages per second all along (appended every 10 ms). Once the job has counted a first
 * `--keys` messages, this process — the client — looks up `--lookups` random keys one after the
 * other, first through `GET /v1/stores/counts/keys/{key}` (one keep-alive connection), then through
 * the control socket (`eddy store get`'s path: a connection per lookup). Figures: p50, p99 and max
 * in milliseconds, and the job's processing rate during each phase.
 *
 * Usage: node --import tsx bench/query.ts [--lookups 10000] [--keys 100000] [--rate 20000]
 *          [--partitions 4]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = 'usage: eddy bench query [--lookups 10000] [--keys 100000] [--rate 20000] [--partitions 4]';

function parseFlags() {
  try {
    return parseArgs({
      options: {
        lookups: { type: 'string', default: '10000' },
        keys: { type: 'string', default: '100000' },
        rate: { type: 'string', default: '20000' },
        partitions: { type: 'string', default: '4' },
        serve: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`eddy bench query: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
}
const values = parseFlags();
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
for (const name of ['lookups', 'keys', 'rate', 'partitions'] as const) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(
      `eddy bench query: --${name} must be a positive integer, got ${values[name]}\n${USAGE}\n`,
    );
    process.exit(2);
  }
}
const LOOKUPS = Number(values.lookups);
const KEYS = Number(values.keys);
const RATE = Number(values.rate);
const PARTITIONS = Number(values.partitions);

const keyOf = (i: number): string => `user-${i}`;

/** The job's side: run the job, serve HTTP and the control socket, feed it, answer "processed?" lines. */
async function serve(dir: string): Promise<void> {
  const { getRequestListener } = await import('@hono/node-server');
  const { Hono } = await import('hono');
  const { createServer } = await import('node:http');
  const { v1Routes } = await import('../src/http/v1-routes.js');
  const { openEmbeddedLog } = await import('../src/log/embedded/embedded-log.js');
  const { defineJob, serdes } = await import('../src/index.js');
  const { runJob } = await import('../src/runtime/run-job.js');
  const { SharedLog } = await import('../src/runtime/control/shared-log.js');
  const { StoreQueries } = await import('../src/runtime/control/store-queries.js');
  const { partitionForKey } = await import('../src/util/murmur2.js');

  const job = defineJob({
    name: 'bench-query',
    inputs: ['clicks'],
    stores: { counts: { key: serdes.string, value: serdes.json<number>() } },
    task: () => {
      let counts: import('../src/index.js').KeyValueStore<string, number>;
      return {
        init(ctx) {
          counts = ctx.store('counts');
        },
        process(msg) {
          const k = msg.key as string;
          counts.put(k, (counts.get(k) ?? 0) + 1);
        },
      };
    },
  });
  const raw = await openEmbeddedLog({ dir: join(dir, 'log') });
  await raw.createTopic('clicks', { partitions: PARTITIONS });
  const log = new SharedLog(raw);
  const queries = new StoreQueries(job);
  const app = new Hono();
  v1Routes({ queries, log })(app);
  const http = createServer(getRequestListener(app.fetch));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as import('node:net').AddressInfo).port;

  let next = 0;
  let feeding = false;
  const value = Buffer.from('{}');
  const feed = async (n: number): Promise<void> => {
    const byPartition = new Map<number, { key: Buffer; value: Buffer }[]>();
    for (let i = 0; i < n; i++) {
      const key = Buffer.from(keyOf(next++ % KEYS));
      const p = partitionForKey(key, PARTITIONS);
      let list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, (list = []));
      list.push({ key, value });
    }
    for (const [p, records] of byPartition) await log.append('clicks', p, records);
  };
  await feed(KEYS); // every key once before the lookups
  const stop = new AbortController();
  let container: import('../src/runtime/job-container.js').JobContainer | undefined;
  const done = runJob(job, {
    log,
    queries,
    dataDir: dir,
    controlSocket: true,
    signal: stop.signal,
    onStarted: (c) => {
      container = c;
    },
  });
  const timer = setInterval(() => {
    if (feeding) return;
    feeding = true;
    feed(RATE / 100).finally(() => {
      feeding = false;
    });
  }, 10);
  const processed = (): number => container?.metrics().processed ?? 0;
  while (processed() < KEYS) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write(`${JSON.stringify({ port, dir })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'processed')
      process.stdout.write(`${JSON.stringify({ processed: processed(), at: performance.now() })}\n`);
    if (line === 'stop') break;
  }
  clearInterval(timer);
  stop.abort();
  const trace = (m: string) => process.env.BENCH_TRACE && process.stderr.write(`serve: ${m}\n`);
  trace('stopping');
  await done;
  trace('job stopped');
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
  trace('http closed');
  await raw.close();
  trace('log closed');
}

function percentiles(samples: number[]): { p50: number; p99: number; max: number } {
  const s = Float64Array.from(samples).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

async function client(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-query-'));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', dir, ...process.argv.slice(2)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async <T>(): Promise<T> => JSON.parse((await lines.next()).value as string) as T;
  try {
    const { port } = await nextLine<{ port: number }>();
    const processed = async (): Promise<{ processed: number; at: number }> => {
      child.stdin.write('processed\n');
      return nextLine();
    };
    const { controlRequest } = await import('../src/runtime/control/control-client.js');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const httpGet = (key: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, agent, path: `/v1/stores/counts/keys/${encodeURIComponent(key)}` },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (body += d));
            res.on('end', () => {
              if (res.statusCode !== 200) reject(new Error(`GET ${key}: ${res.statusCode} ${body}`));
              else resolve((JSON.parse(body) as { value: number }).value);
            });
          },
        );
        req.on('error', reject);
        req.end();
      });
    const socketGet = async (key: string): Promise<void> => {
      const { result } = await controlRequest<{ answers: { value: string | null }[] }>(dir, {
        op: 'store.get',
        job: 'bench-query',
        store: 'counts',
        key: Buffer.from(key).toString('base64'),
      });
      if (result.answers[0]?.value == null) throw new Error(`control socket: ${key} not found`);
    };
    let seed = 0x2545f491;
    const randomKey = (): string => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return keyOf((seed >>> 0) % KEYS);
    };
    console.log(
      `eddy bench query: ${LOOKUPS.toLocaleString('en-US')} key lookups, one at a time, while the job processes (fed ${RATE.toLocaleString('en-US')} msgs/s; ${KEYS.toLocaleString('en-US')} keys, lmdb + changelog, ${PARTITIONS} partitions)`,
    );
    for (const [name, get] of [
      ['HTTP GET /v1/stores/counts/keys/{key} (keep-alive)', httpGet],
      ['control socket store.get (eddy store get; a connection each)', socketGet],
    ] as const) {
      for (let i = 0; i < 200; i++) await get(randomKey()); // warm-up
      const before = await processed();
      const samples: number[] = [];
      for (let i = 0; i < LOOKUPS; i++) {
        const key = randomKey();
        const t0 = performance.now();
        await get(key);
        samples.push(performance.now() - t0);
      }
      const after = await processed();
      const { p50, p99, max } = percentiles(samples);
      const rate = ((after.processed - before.processed) * 1000) / (after.at - before.at);
      console.log(
        `  ${name}: p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, max ${max.toFixed(1)} ms; the job processed ${Math.round(rate).toLocaleString('en-US')} msgs/s meanwhile`,
      );
    }
    agent.destroy();
    child.stdin.end('stop\n');
    await new Promise((r) => child.once('exit', r));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.serve !== undefined) {
  await serve(values.serve);
  process.exit(0); // stdin (the client's pipe) would keep the process alive
} else await client();
