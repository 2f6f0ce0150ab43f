/** The HTTP server: addresses, the token, JSON errors, 404/401/503, /ready, and a clean close. */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { describe, it } from 'node:test';
import { JobMonitor } from '../../src/http/job-monitor.js';
import { isLoopback, parseHttpAddress, startHttpServer } from '../../src/http/server.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { defineJob } from '../../src/runtime/job.js';
import { runJob } from '../../src/runtime/run-job.js';
import { serdes } from '../../src/store/serdes.js';
import { isEddyError, JobError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';

function monitor(): JobMonitor {
  return new JobMonitor('test-job', new MemoryLog(), 'memory');
}

describe('--http addresses', () => {
  it('parses HOST:PORT, [IPv6]:PORT, :PORT and PORT; 127.0.0.1 by default', () => {
    assert.deepEqual(parseHttpAddress('0.0.0.0:8080'), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseHttpAddress('[::1]:9'), { host: '::1', port: 9 });
    assert.deepEqual(parseHttpAddress(':9090'), { host: '127.0.0.1', port: 9090 });
    assert.deepEqual(parseHttpAddress('0'), { host: '127.0.0.1', port: 0 });
    for (const bad of ['', 'localhost', 'host:99999', 'a:b', '[::1]']) {
      assert.throws(
        () => parseHttpAddress(bad),
        (e) => isEddyError(e, 'EDDY_INVALID_ARGUMENT') && e.message.includes('--http'),
      );
    }
    assert.ok(
      isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('localhost'),
    );
    assert.ok(!isLoopback('0.0.0.0') && !isLoopback('10.0.0.1') && !isLoopback('::'));
  });

  it('refuses a non-loopback address without a token, naming --http-token', async () => {
    await assert.rejects(
      startHttpServer({ address: { host: '0.0.0.0', port: 0 }, monitor: monitor() }),
      (e) =>
        isEddyError(e, 'EDDY_INVALID_ARGUMENT') &&
        /--http-token/.test(e.message) &&
        /EDDY_HTTP_TOKEN/.test(e.message),
    );
  });

  it('a port in use is a clear error', async (t) => {
    const a = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, monitor: monitor() });
    t.after(() => a.close());
    await assert.rejects(
      startHttpServer({ address: { host: '127.0.0.1', port: a.port }, monitor: monitor() }),
      (e) => isEddyError(e, 'EDDY_INVALID_ARGUMENT') && /EADDRINUSE/.test(e.message),
    );
  });
});

describe('requests', () => {
  it('writes need the bearer token; errors are JSON { code, message } without a stack trace', async (t) => {
    const server = await startHttpServer({
      address: { host: '0.0.0.0', port: 0 },
      token: 's3cret',
      monitor: monitor(),
      routes: [
        (app) => {
          app.post('/test/echo', async (c) => c.json({ got: await c.req.text() }));
          app.get('/test/boom', () => {
            throw new Error('kaput');
          });
          app.get('/test/job-error', () => {
            throw new JobError('no such thing');
          });
        },
      ],
    });
    t.after(() => server.close());
    const url = `http://127.0.0.1:${server.port}`;
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/test/echo`, { method: 'POST', body: 'hi', headers });
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 's3cret' }] as Record<
      string,
      string
    >[]) {
      const r = await post(headers);
      assert.equal(r.status, 401);
      const body = (await r.json()) as { code: string; message: string };
      assert.equal(body.code, 'EDDY_UNAUTHORIZED');
      assert.match(body.message, /--http-token/);
    }
    const ok = await post({ authorization: 'Bearer s3cret' });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { got: 'hi' });
    // reads need no token
    assert.equal((await fetch(`${url}/health`)).status, 200);

    const missing = await fetch(`${url}/no/such/path`);
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys((await missing.json()) as object).sort(), ['code', 'message']);

    const boom = await fetch(`${url}/test/boom`);
    assert.equal(boom.status, 500);
    const text = await boom.text();
    assert.deepEqual(JSON.parse(text), { code: 'EDDY_INTERNAL', message: 'kaput' });
    assert.doesNotMatch(text, /\bat \S+ \(|\.ts:\d+/);
    assert.equal((await fetch(`${url}/test/job-error`)).status, 500);
  });

  it('after shutdown() every path but /health and /metrics answers 503', async (t) => {
    const server = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, monitor: monitor() });
    t.after(() => server.close());
    server.shutdown();
    const ready = await fetch(`${server.url}/ready`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { code: string }).code, 'EDDY_UNAVAILABLE');
    assert.equal((await fetch(`${server.url}/api/dashboard`)).status, 503);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    assert.equal((await fetch(`${server.url}/metrics`)).status, 200);
  });

  it('close() ends kept-alive connections and is idempotent', async () => {
    const server = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, monitor: monitor() });
    const agent = new Agent({ keepAlive: true });
    let socketClosed = false;
    let closed!: Promise<void>;
    await new Promise<void>((resolve, reject) => {
      const req = request(`${server.url}/health`, { agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('socket', (socket) => {
        closed = new Promise((done) =>
          socket.once('close', () => {
            socketClosed = true;
            done();
          }),
        );
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(socketClosed, false, 'the agent keeps the connection open');
    await server.close(); // resolves once every connection is closed
    await server.close();
    // the server's end of the kept-alive connection went away (the agent unrefs idle sockets: keep the loop alive)
    const guard = setTimeout(() => assert.fail('the kept-alive socket stayed open'), 5000);
    await closed;
    clearTimeout(guard);
    assert.equal(socketClosed, true);
    agent.destroy();
    await assert.rejects(fetch(`${server.url}/health`));
  });
});

describe('/ready and /health follow the job', () => {
  it('/ready is 503 until every task is restored and running, then 200 with its tasks and restores', async (t) => {
    const log = new MemoryLog();
    await log.createTopic('in', { partitions: 2 });
    const job = defineJob({
      name: 'ready-job',
      inputs: ['in'],
      stores: { s: { engine: 'memory', key: serdes.string, value: serdes.json<number>() } },
      task: () => ({ process() {} }),
    });
    const m = new JobMonitor(job.name, log, 'memory');
    const server = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, monitor: m });
    t.after(() => server.close());
    const before = await fetch(`${server.url}/ready`);
    assert.equal(before.status, 503);
    assert.equal(((await before.json()) as { phase: string }).phase, 'starting');
    const controller = new AbortController();
    let started!: () => void;
    const isStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const run = runJob(job, {
      log,
      dataDir: tempDir(t),
      signal: controller.signal,
      onRestore: m.onRestore,
      onStarted: (c) => {
        m.onStarted(c);
        started();
      },
    });
    await isStarted;
    const ready = await fetch(`${server.url}/ready`);
    const body = (await ready.json()) as {
      ready: boolean;
      tasks: { task: string }[];
      restores: { store: string; done: boolean }[];
    };
    assert.equal(ready.status, 200);
    assert.equal(body.ready, true);
    assert.deepEqual(
      body.tasks.map((x) => x.task),
      ['Partition 0', 'Partition 1'],
    );
    assert.deepEqual(
      body.restores.map((r) => [r.store, r.done]),
      [
        ['s', true],
        ['s', true],
      ],
    );
    m.stopping();
    assert.equal((await fetch(`${server.url}/ready`)).status, 503);
    controller.abort();
    await run;
    m.stopped();
    const health = (await (await fetch(`${server.url}/health`)).json()) as { phase: string };
    assert.equal(health.phase, 'stopped');
  });
});
