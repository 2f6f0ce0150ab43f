/**
 * `eddy run --http` end to end, in a real process: the /v1 routes are mounted (a key query, a POST
 * of records the job then processes), the token rule off loopback, and the JSON log lines of a task
 * carrying job, task and partition.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eddySync } from '../helpers/eddy-process.js';
import { startJob, waitFor } from '../helpers/http-job.js';
import { tempDir } from '../helpers/tmp.js';

const TICKER = fileURLToPath(new URL('./fixtures/ticker-job.ts', import.meta.url));

test('eddy run --http serves the /v1 routes next to /metrics; task log lines carry job, task and partition', async (t) => {
  const job = await startJob(t, { job: TICKER, topics: [['ticks', 2]], args: ['--log-format', 'json'] });
  const unknown = await fetch(`${job.url}/v1/stores/nope/keys/a`);
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { code: string }).code, 'EDDY_UNKNOWN_STORE');

  // a record posted over HTTP reaches the job, which counts it
  const posted = await fetch(`${job.url}/v1/topics/ticks/records`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ records: [{ key: 'from-http', value: 1 }] }),
  });
  assert.equal(posted.status, 200, await posted.clone().text());
  const answer = await waitFor('the posted key in the store', async () => {
    const r = await fetch(`${job.url}/v1/stores/counts/keys/from-http`);
    return r.status === 200 ? ((await r.json()) as { value: number; partition: number }) : undefined;
  });
  assert.equal(answer.value, 1);

  // the ticker dead-letters a poison message every 5,000: a task's warning, as one JSON line
  const line = await waitFor('a dead-letter warning in the log', async () =>
    job
      .stderr()
      .split('\n')
      .find((l) => l.startsWith('{') && l.includes('dead-lettered')),
  );
  const fields = JSON.parse(line) as Record<string, unknown>;
  assert.equal(fields.level, 40);
  assert.equal(fields.job, 'ticker');
  assert.match(String(fields.task), /^Partition [01]$/);
  assert.equal(typeof fields.partition, 'number');
  assert.equal(fields.topic, 'ticks');
  assert.equal(typeof fields.offset, 'number');
  assert.equal(await job.stop(), 0, job.stderr());
});

test('eddy run --http on a non-loopback address refuses to start without a token', (t) => {
  const dir = tempDir(t);
  assert.equal(eddySync(['topics', 'create', 'ticks', '--partitions', '1', '--data-dir', dir]).status, 0);
  const r = eddySync(['run', TICKER, '--data-dir', dir, '--http', '0.0.0.0:0']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /--http-token/);
  const bad = eddySync(['run', TICKER, '--data-dir', dir, '--log-format', 'xml']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /logFormat \(--log-format\): expected "json" or "pretty", got "xml"/);
});
