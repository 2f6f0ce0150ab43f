/**
 * The `/v1/...` routes over a real job on the embedded log (in this process, through Hono's
 * `app.request`): POST records feed the job, key/range/prefix queries read its stores through the
 * job's partitioner, bad input is a JSON error with nothing appended, a store that restores answers
 * from what it restored so far, and shutdown answers 503.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { v1Routes } from '../../src/http/v1-routes.js';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { Log } from '../../src/log/types.js';
import { SharedLog } from '../../src/runtime/control/shared-log.js';
import { StoreQueries } from '../../src/runtime/control/store-queries.js';
import { changelogTopic } from '../../src/runtime/job.js';
import { runJob } from '../../src/runtime/run-job.js';
import { partitionForKey } from '../../src/util/murmur2.js';
import liveJob from '../cli/fixtures/live-job.js';
import { makeTempDir } from '../helpers/tmp.js';

interface Running {
  app: Hono;
  log: SharedLog;
  queries: StoreQueries;
  started: Promise<void>;
  stop(): Promise<void>;
}

/** Runs the live job on `dir` with the routes mounted on a bare Hono app; `stop` ends it. */
async function startJob(
  dir: string,
  wrap: (log: Log) => Log = (l) => l,
  partitions = 2,
  maxBodyBytes = 64 * 1024,
): Promise<Running> {
  const raw = await openEmbeddedLog({ dir: join(dir, 'log') });
  await raw.ensureTopic('clicks', { partitions });
  const log = new SharedLog(wrap(raw));
  const queries = new StoreQueries(liveJob);
  const app = new Hono();
  v1Routes({ queries, log, maxBodyBytes })(app);
  const stopper = new AbortController();
  let onStarted!: () => void;
  const started = new Promise<void>((resolve) => {
    onStarted = resolve;
  });
  let stopped: Promise<void> | undefined;
  const done = runJob(liveJob, {
    log,
    queries,
    dataDir: dir,
    signal: stopper.signal,
    onStarted: () => onStarted(),
  });
  done.catch(() => undefined);
  return {
    app,
    log,
    queries,
    started,
    stop() {
      stopped ??= (async () => {
        stopper.abort();
        await done;
        await raw.close();
      })();
      return stopped;
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: the answers are free-form JSON, each test reads its own fields
async function json(app: Hono, path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await app.request(path, init);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  return { status: res.status, body: await res.json() };
}

function post(records: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(records) };
}

async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A temporary data dir, removed after the jobs registered with `own` have stopped. */
function dataDir(t: { after(fn: () => Promise<void>): void }): { dir: string; own(job: Running): void } {
  const { dir, remove } = makeTempDir();
  const jobs: Running[] = [];
  t.after(async () => {
    for (const j of jobs) await j.stop().catch(() => undefined);
    remove();
  });
  return { dir, own: (job) => jobs.push(job) };
}

describe('/v1 routes', () => {
  it('POST records feed the job; keys, ranges and prefixes answer from its stores', async (t) => {
    const { dir, own } = dataDir(t);
    const job = await startJob(dir);
    own(job);
    await job.started;

    const users = ['alice', 'bob', 'carol', 'alex', 'alice', 'alice'];
    const sent = await json(
      job.app,
      '/v1/topics/clicks/records',
      post({ records: users.map((key) => ({ key, value: {} })) }),
    );
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.equal(sent.body.count, 6);
    const total = sent.body.partitions.reduce((n: number, p: { count: number }) => n + p.count, 0);
    assert.equal(total, 6);

    const alice = await until(async () => {
      const r = await json(job.app, '/v1/stores/counts/keys/alice');
      return r.status === 200 && r.body.value === 3 ? r : undefined;
    }, 'alice counted three times');
    // the job's own partitioner picks the partition; the answer says which, and the changelog offset
    assert.equal(alice.body.partition, partitionForKey(Buffer.from('alice'), 2));
    assert.equal(alice.body.restoring, false);
    assert.equal(alice.body.store, 'counts');
    assert.equal(alice.body.key, 'alice');
    assert.ok(alice.body.changelogOffset === null || Number.isInteger(alice.body.changelogOffset));
    await until(async () => {
      const r = await json(job.app, '/v1/stores/counts/keys/alex');
      return r.status === 200 ? r : undefined;
    }, 'every user counted');

    const missing = await json(job.app, '/v1/stores/counts/keys/nobody');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'EDDY_NOT_FOUND');
    assert.equal(missing.body.partition, partitionForKey(Buffer.from('nobody'), 2));

    // a range over both partitions, merged in key order, with a limit
    const range = await json(job.app, '/v1/stores/counts/range?from=a&to=c');
    assert.equal(range.status, 200);
    assert.deepEqual(
      range.body.entries.map((e: { key: string; value: number }) => [e.key, e.value]),
      [
        ['alex', 1],
        ['alice', 3],
        ['bob', 1],
      ],
    );
    assert.equal(range.body.more, false);
    const limited = await json(job.app, '/v1/stores/counts/range?limit=2');
    assert.deepEqual(
      limited.body.entries.map((e: { key: string }) => e.key),
      ['alex', 'alice'],
    );
    assert.equal(limited.body.more, true);
    const prefix = await json(job.app, '/v1/stores/counts/prefix/al');
    assert.deepEqual(
      prefix.body.entries.map((e: { key: string }) => e.key),
      ['alex', 'alice'],
    );
    // keys as bytes: hex of "bob"
    const hex = await json(
      job.app,
      `/v1/stores/counts/keys/${Buffer.from('bob').toString('hex')}?keyEncoding=hex`,
    );
    assert.equal(hex.body.value, 1);
  });

  it("bad input: a JSON error with the issue's status, and nothing appended", async (t) => {
    const { dir, own } = dataDir(t);
    const job = await startJob(dir);
    own(job);
    await job.started;
    const ends = async () => [await job.log.endOffset('clicks', 0), await job.log.endOffset('clicks', 1)];
    const before = await ends();

    const cases: [string, RequestInit | undefined, number, string, RegExp][] = [
      ['/v1/stores/nope/keys/a', undefined, 404, 'EDDY_UNKNOWN_STORE', /store "nope" does not exist/],
      ['/v1/stores/counts/keys/zz?keyEncoding=hex', undefined, 400, 'EDDY_SERDE', /not hexadecimal/],
      [
        '/v1/stores/counts/keys/a?keyEncoding=yaml',
        undefined,
        400,
        'EDDY_INVALID_ARGUMENT',
        /keyEncoding must be/,
      ],
      ['/v1/stores/counts/range?limit=0', undefined, 400, 'EDDY_INVALID_ARGUMENT', /limit must be/],
      [
        '/v1/topics/nope/records',
        post({ records: [{ key: 'a', value: 1 }] }),
        404,
        'EDDY_UNKNOWN_TOPIC',
        /nope/,
      ],
      [
        '/v1/topics/clicks/records',
        { method: 'POST', body: '{"records": [' },
        400,
        'EDDY_INVALID_ARGUMENT',
        /not JSON/,
      ],
      ['/v1/topics/clicks/records', post([{ key: 'a' }]), 400, 'EDDY_INVALID_ARGUMENT', /"records"/],
      [
        '/v1/topics/clicks/records',
        post({ records: [{ key: 'a', value: 1 }, { key: 'b' }] }),
        400,
        'EDDY_INVALID_ARGUMENT',
        /records\[1\]: missing "value".*nothing was appended/,
      ],
      [
        '/v1/topics/clicks/records',
        post({
          records: [
            { key: 'a', value: 1 },
            { key: 'b', value: 2, partition: 9 },
          ],
        }),
        400,
        'EDDY_INVALID_ARGUMENT',
        /records\[1\]: partition 9 does not exist/,
      ],
      [
        '/v1/topics/clicks/records',
        post({ records: [{ key: 'a', value: 'x'.repeat(70 * 1024) }] }),
        413,
        'EDDY_RECORD_TOO_LARGE',
        /larger than 65536 bytes/,
      ],
    ];
    for (const [path, init, status, code, message] of cases) {
      const r = await json(job.app, path, init);
      assert.equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, code, path);
      assert.match(r.body.message, message, path);
      assert.ok(!JSON.stringify(r.body).includes('    at '), 'no stack trace');
    }
    assert.deepEqual(await ends(), before, 'nothing was appended');

    // shutdown: 503
    job.queries.shutdown();
    const late = await json(job.app, '/v1/stores/counts/keys/a');
    assert.equal(late.status, 503);
    assert.equal(late.body.code, 'EDDY_UNAVAILABLE');
    const latePost = await json(
      job.app,
      '/v1/topics/clicks/records',
      post({ records: [{ key: 'a', value: 1 }] }),
    );
    assert.equal(latePost.status, 503);
    assert.deepEqual(await ends(), before);
  });

  it('while a store restores, queries answer from what is restored so far, and say so', async (t) => {
    const { dir, own } = dataDir(t);
    // a first run fills the changelog: 60,000 users, one partition (more than one restore read)
    const first = await startJob(dir, undefined, 1, 4 << 20);
    own(first);
    await first.started;
    const users = Array.from({ length: 60_000 }, (_, i) => ({
      key: `u${String(i).padStart(5, '0')}`,
      value: {},
    }));
    assert.equal((await json(first.app, '/v1/topics/clicks/records', post({ records: users }))).status, 200);
    await until(async () => {
      const r = await json(first.app, '/v1/stores/counts/keys/u59999');
      return r.status === 200 ? r : undefined;
    }, 'the first run counted every user');
    await first.stop();
    // lose the local store: the next run rebuilds it from the changelog
    rmSync(join(dir, 'stores', 'live', 'counts'), { recursive: true });

    const topic = changelogTopic('live', 'counts');
    const probe = await openEmbeddedLog({ dir: join(dir, 'log') });
    const changelog = await probe.read(topic, 0, 0, { maxRecords: 100_000, maxBytes: 64 << 20 });
    await probe.close();
    assert.ok(changelog.length >= 60_000);

    // the second run's restore stops after its first batch until `release`
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reachedGate!: () => void;
    const atGate = new Promise<void>((resolve) => {
      reachedGate = resolve;
    });
    const gated = (log: Log): Log =>
      new Proxy(log, {
        get(target, prop, receiver) {
          if (prop === 'read') {
            return async (tp: string, p: number, offset: number, options?: object) => {
              if (tp === topic && offset > 0) {
                reachedGate();
                await gate;
              }
              return target.read(tp, p, offset, options);
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    const second = await startJob(dir, gated, 1);
    own(second);
    // fails, rather than hangs, if the restore never makes a second read (one read took it all)
    await Promise.race([
      atGate,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the restore never read past its first batch')), 60_000).unref(),
      ),
    ]);
    const firstBatch = await until(async () => {
      const r = await json(second.app, `/v1/stores/counts/keys/${changelog[0].key?.toString()}`);
      return r.status === 200 ? r : undefined;
    }, 'the first batch is queryable');
    assert.equal(firstBatch.body.restoring, true);
    assert.equal(firstBatch.body.value, 1);
    assert.ok(
      firstBatch.body.restored > 0 && firstBatch.body.restored < firstBatch.body.total,
      JSON.stringify(firstBatch.body),
    );
    assert.equal(firstBatch.body.changelogOffset, firstBatch.body.restored - 1);
    const last = changelog[changelog.length - 1].key?.toString();
    const notYet = await json(second.app, `/v1/stores/counts/keys/${last}`);
    assert.equal(notYet.status, 404);
    assert.equal(notYet.body.restoring, true);
    const range = await json(second.app, '/v1/stores/counts/range?limit=10');
    assert.equal(range.body.restoring, true);
    assert.equal(range.body.entries.length, 10);

    release();
    await second.started;
    const after = await json(second.app, `/v1/stores/counts/keys/${last}`);
    assert.equal(after.status, 200);
    assert.equal(after.body.restoring, false);
    assert.equal(after.body.value, 1);
  });
});
