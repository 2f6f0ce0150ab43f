/**
 * The shell tools next to a running job, through real processes: `eddy run` holds the data
 * directory while `produce`, `topics create|list|describe|delete`, `consume --follow` and
 * `store get|range|dump|stats` run against it from other processes.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eddySync, startEddy } from '../helpers/eddy-process.js';
import { tempDir } from '../helpers/tmp.js';

const JOB = fileURLToPath(new URL('./fixtures/live-job.ts', import.meta.url));

/** Retries `fn` until it returns a value (not undefined), for up to 30 s. */
async function eventually<T>(fn: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function endOffsets(dir: string, topic: string): string {
  const d = eddySync(['topics', 'describe', topic, '--data-dir', dir]);
  assert.equal(d.status, 0, d.stderr);
  return d.stdout.slice(d.stdout.indexOf('partition  earliest'));
}

test('next to a running job: produce, topics, consume --follow and store reads work, through the job', async (t) => {
  const dir = tempDir(t);
  const at = ['--data-dir', dir];
  assert.equal(eddySync(['topics', 'create', 'clicks', '--partitions', '2', ...at]).status, 0);
  const job = startEddy(t, ['run', JOB, ...at]);
  await job.waitFor(/started 2 tasks/);

  // the control socket: only its user may connect
  const sock = join(dir, 'control.sock');
  assert.ok(existsSync(sock));
  assert.equal(statSync(sock).mode & 0o777, 0o600);

  // produce reaches the running job's log
  const produced = eddySync(['produce', 'clicks', ...at], 'alice\t{}\nbob\t{}\nalice\t{}\n');
  assert.equal(produced.status, 0, produced.stderr);
  assert.match(produced.stdout, /produced 3 record\(s\) to topic clicks/);

  // a bad line: nothing written
  const before = endOffsets(dir, 'clicks');
  const bad = eddySync(
    ['produce', 'clicks', '--format', 'json', ...at],
    '{"key":"carol","value":"1"}\n{"key":\n',
  );
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /line 2: not valid JSON.*nothing was written/);
  // a partition that does not exist: refused by the job's process, nothing written
  const nopart = eddySync(
    ['produce', 'clicks', '--format', 'json', ...at],
    '{"key":"x","value":"1","partition":7}\n',
  );
  assert.equal(nopart.status, 1);
  assert.match(nopart.stderr, /partition 7 does not exist/);
  assert.equal(endOffsets(dir, 'clicks'), before);

  // the job processed them: its store answers through the job (current values)
  const alice = await eventually(() => {
    const r = eddySync(['store', 'get', 'alice', '--job', 'live', '--store', 'counts', ...at]);
    return r.status === 0 && r.stdout === '2\n' ? r : undefined;
  }, 'alice counted twice');
  assert.equal(alice.stdout, '2\n');
  const missing = eddySync(['store', 'get', 'nobody', '--job', 'live', '--store', 'counts', ...at]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /not found in counts/);
  const dump = eddySync(['store', 'dump', '--job', 'live', '--store', 'counts', ...at]);
  assert.equal(dump.status, 0, dump.stderr);
  assert.deepEqual(dump.stdout.trim().split('\n').sort(), ['alice\t2', 'bob\t1']);
  const range = eddySync(['store', 'range', 'a', 'b', '--job', 'live', '--store', 'counts', ...at]);
  assert.equal(range.stdout, 'alice\t2\n');
  const stats = eddySync(['store', 'stats', '--job', 'live', '--store', 'counts', ...at]);
  assert.equal(stats.status, 0, stats.stderr);
  assert.match(stats.stdout, new RegExp(`running \\(process ${job.child.pid}\\), 2 partitions open`));
  assert.match(stats.stdout, /total: 2 keys/);
  const unknown = eddySync(['store', 'get', 'alice', '--job', 'live', '--store', 'nope', ...at]);
  assert.equal(unknown.status, 1);
  assert.match(
    unknown.stderr,
    /store "nope" does not exist in this job; its stores: counts \[EDDY_UNKNOWN_STORE\]/,
  );

  // topics: list and describe read the files; create and delete go through the job
  const created = eddySync(['topics', 'create', 'extra', '--partitions', '3', ...at]);
  assert.equal(created.status, 0, created.stderr);
  const list = eddySync(['topics', 'list', ...at]);
  assert.equal(list.status, 0, list.stderr);
  for (const name of ['clicks', 'extra', 'totals', 'live-counts-changelog'])
    assert.ok(list.stdout.includes(`${name}\n`), list.stdout);
  assert.match(eddySync(['topics', 'describe', 'extra', ...at]).stdout, /partitions\s+3/);
  assert.equal(eddySync(['topics', 'delete', 'extra', ...at]).status, 0);
  assert.ok(!eddySync(['topics', 'list', ...at]).stdout.includes('extra\n'));

  // consume --follow sees the job's new outputs: once it printed the three totals so far it is
  // waiting at the end, so what it prints next is new
  const follow = startEddy(t, [
    'consume',
    'totals',
    '--from-beginning',
    '--follow',
    '--format',
    'json',
    ...at,
  ]);
  await follow.waitFor(/^(.*"key":"(alice|bob)".*\n){3}/, 'stdout', 30_000);
  assert.equal(eddySync(['produce', 'clicks', ...at], 'dave\t{}\n').status, 0);
  const line = await follow.waitFor(
    /\{"partition":\d+,"offset":\d+,[^\n]*"key":"dave"[^\n]*\n/,
    'stdout',
    30_000,
  );
  assert.match(line[0], /"value":"1"/);
  follow.child.kill('SIGINT');
  assert.equal(await follow.exited, 0);

  // a clean stop removes the socket; the stores are then read from their files again
  job.child.kill('SIGTERM');
  assert.equal(await job.exited, 0, job.stderr());
  assert.equal(existsSync(sock), false);
  const offline = eddySync(['store', 'get', 'dave', '--job', 'live', '--store', 'counts', ...at]);
  assert.equal(offline.stdout, '1\n', offline.stderr);
});

test('a control socket left by a SIGKILLed job is replaced by the next run', async (t) => {
  const dir = tempDir(t);
  const at = ['--data-dir', dir];
  assert.equal(eddySync(['topics', 'create', 'clicks', '--partitions', '1', ...at]).status, 0);
  // a consumer that follows first does not keep the job from starting (it takes no lock)
  assert.equal(eddySync(['produce', 'clicks', ...at], 'zed\t{}\n').status, 0);
  const follow = startEddy(t, ['consume', 'clicks', '--from-beginning', '--follow', ...at]);
  await follow.waitFor(/zed\t\{\}\n/, 'stdout', 30_000);
  const first = startEddy(t, ['run', JOB, ...at]);
  await first.waitFor(/started 1 tasks/);
  first.child.kill('SIGKILL');
  await first.exited;
  assert.ok(existsSync(join(dir, 'control.sock')), 'SIGKILL leaves the socket file');

  const second = startEddy(t, ['run', JOB, ...at]);
  await second.waitFor(/started 1 tasks/);
  const produced = eddySync(['produce', 'clicks', ...at], 'erin\t{}\n');
  assert.equal(produced.status, 0, produced.stderr);
  await eventually(() => {
    const r = eddySync(['store', 'get', 'erin', '--job', 'live', '--store', 'counts', ...at]);
    return r.stdout === '1\n' ? true : undefined;
  }, 'erin counted by the second run');
  await follow.waitFor(/erin\t\{\}\n/, 'stdout', 30_000);
  follow.child.kill('SIGINT');
  assert.equal(await follow.exited, 0);
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.stderr());
});

test('next to a running job: topics compact and topics truncate --yes go through the job', async (t) => {
  const dir = tempDir(t);
  const at = ['--data-dir', dir];
  assert.equal(eddySync(['topics', 'create', 'clicks', '--partitions', '2', ...at]).status, 0);
  const job = startEddy(t, ['run', JOB, ...at]);
  await job.waitFor(/started 2 tasks/);
  const made = eddySync([
    'topics',
    'create',
    'kv',
    '--partitions',
    '1',
    '--cleanup',
    'compact',
    '--segment-bytes',
    '1024',
    ...at,
  ]);
  assert.equal(made.status, 0, made.stderr);
  // four appends of 10 records (~2 kB each, over the segment size): each rolls a segment
  for (let b = 0; b < 4; b++) {
    const pad = 'x'.repeat(200);
    const lines = Array.from(
      { length: 10 },
      (_, i) => `k${i % 4}\t{"n":${b * 10 + i},"pad":"${pad}"}\n`,
    ).join('');
    assert.equal(eddySync(['produce', 'kv', ...at], lines).status, 0);
  }

  const compacted = eddySync(['topics', 'compact', 'kv', ...at]);
  assert.equal(compacted.status, 0, compacted.stderr);
  assert.match(
    compacted.stdout,
    /compacted topic kv\n {2}partition 0: [1-9]\d* segment\(s\), \d+ records read/,
  );
  const kept = Number(/(\d+) kept/.exec(compacted.stdout)?.[1]);
  const read = Number(/(\d+) records read/.exec(compacted.stdout)?.[1]);
  assert.ok(kept < read, compacted.stdout);

  // truncate: without --yes it only says what it would drop; with --yes the job's log drops it
  const dry = eddySync(['topics', 'truncate', 'kv', '--partition', '0', '--offset', '38', ...at]);
  assert.equal(dry.status, 1);
  assert.match(
    dry.stderr,
    /drops offsets 38\.\.39 \(2 records\) of topic kv partition 0; run again with --yes/,
  );
  assert.match(endOffsets(dir, 'kv'), /\s40\s/);
  const cut = eddySync(['topics', 'truncate', 'kv', '--partition', '0', '--offset', '38', '--yes', ...at]);
  assert.equal(cut.status, 0, cut.stderr);
  assert.match(cut.stdout, /truncated topic kv partition 0 at offset 38: dropped offsets 38\.\.39/);
  assert.match(endOffsets(dir, 'kv'), /\s38\s/);
  const out = eddySync(['topics', 'truncate', 'kv', '--partition', '0', '--offset', '99', '--yes', ...at]);
  assert.equal(out.status, 1);
  assert.match(out.stderr, /offset 99/);

  job.child.kill('SIGTERM');
  assert.equal(await job.exited, 0, job.stderr());
});
