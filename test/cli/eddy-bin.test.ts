/** End to end: the real `bin/eddy.js` in child processes — produce from stdin, consume, a bad line, SIGINT. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/tmp.js';

const BIN = fileURLToPath(new URL('../../bin/eddy.js', import.meta.url));

function eddy(
  dir: string,
  args: string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], {
    input,
    // the sources under test, not a build that may be older
    env: { ...process.env, EDDY_FROM_SOURCE: '1' },
    encoding: 'utf8',
    timeout: 180_000, // generous: a loaded machine runs the demo several times slower
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bin/eddy.js: produce from stdin, consume, and a bad line writes nothing', (t) => {
  const dir = tempDir(t);
  assert.equal(eddy(dir, ['topics', 'create', 'orders', '--partitions', '2']).status, 0);

  const produced = eddy(dir, ['produce', 'orders'], 'alice\t{"item":"book"}\nbob\t{"item":"pen"}\n');
  assert.equal(produced.status, 0, produced.stderr);
  assert.match(produced.stdout, /produced 2 record\(s\) to topic orders/);

  const consumed = eddy(dir, ['consume', 'orders', '--from-beginning']);
  assert.equal(consumed.status, 0, consumed.stderr);
  assert.deepEqual(
    consumed.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t').slice(2).join('\t'))
      .sort(),
    ['alice\t{"item":"book"}', 'bob\t{"item":"pen"}'],
  );

  const bad = eddy(
    dir,
    ['produce', 'orders', '--format', 'json'],
    '{"key":"c","value":"1"}\n{"key":"d",\n{"key":"e","value":"3"}\n',
  );
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /line 2: not valid JSON/);
  assert.match(bad.stderr, /nothing was written/);
  const after = eddy(dir, ['consume', 'orders', '--from-beginning']);
  assert.equal(
    after.stdout.trim().split('\n').length,
    2,
    'the good lines of the bad input were not written either',
  );
});

test('bin/eddy.js: consume --follow takes no lock and exits cleanly with code 0 on SIGINT', async (t) => {
  const dir = tempDir(t);
  assert.equal(eddy(dir, ['topics', 'create', 'orders', '--partitions', '1']).status, 0);
  assert.equal(eddy(dir, ['produce', 'orders'], 'a\t1\n').status, 0);
  const child = spawn(
    process.execPath,
    [BIN, 'consume', 'orders', '--from-beginning', '--follow', '--data-dir', dir],
    { env: { ...process.env, EDDY_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // The consumer is following once it printed the record there is.
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d) => String(d).includes('a\t1') && resolve()),
  );
  // it reads as a follower: no lock, so a job (or produce) can open the log meanwhile
  assert.equal(existsSync(join(dir, 'log', 'LOCK')), false, 'the consumer holds no lock');
  assert.equal(eddy(dir, ['produce', 'orders'], 'b\t2\n').status, 0);
  child.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
});

test('bin/eddy.js run: Kafka-only options on the embedded log, and an out-of-range session timeout, are errors naming the option', (t) => {
  const dir = tempDir(t);
  const job = fileURLToPath(new URL('../../examples/counter/job.ts', import.meta.url));
  const embedded = eddy(dir, ['run', job, '--session-timeout', '6000']);
  assert.equal(embedded.status, 1, embedded.stderr);
  assert.match(embedded.stderr, /sessionTimeout \(--session-timeout\): need backend kafka/);
  const range = eddy(dir, [
    'run',
    job,
    '--backend',
    'kafka',
    '--brokers',
    '127.0.0.1:9',
    '--session-timeout',
    '10',
  ]);
  assert.equal(range.status, 1, range.stderr);
  assert.match(
    range.stderr,
    /sessionTimeout \(--session-timeout\): expected an integer of ms in 1000\.\.1800000, got 10/,
  );
});

test('bin/eddy.js demo: runs the shopping-cart job end to end and keeps its data with --data-dir', (t) => {
  const dir = tempDir(t);
  const demo = eddy(dir, ['demo', '--events', '20000', '--users', '500']);
  assert.equal(demo.status, 0, demo.stderr);
  const out = demo.stdout + demo.stderr;
  assert.match(out, /events processed\s+20,000/);
  const carts = /open carts in store\s+([\d,]+) \(store "carts"/.exec(out)?.[1];
  assert.ok(carts, out);
  assert.match(out, /cart totals emitted\s+[\d,]+/);
  // the data stays: the store, read back through the CLI, holds the carts the summary counted
  const stats = eddy(dir, ['store', 'stats', '--job', 'shopping-cart', '--store', 'carts']);
  assert.equal(stats.status, 0, stats.stderr);
  const total = /total: ([\d,]+) keys/.exec(stats.stdout)?.[1];
  assert.equal(total?.replaceAll(',', ''), carts.replaceAll(',', ''), stats.stdout);
});

test('bin/eddy.js demo --threads 2: the same carts and totals as one event loop, the start printed apart', (t) => {
  const args = ['demo', '--events', '3000', '--users', '200', '--partitions', '4'];
  const one = eddy(tempDir(t), args);
  const two = eddy(tempDir(t), [...args, '--threads', '2']);
  for (const r of [one, two]) assert.equal(r.status, 0, r.stderr);
  const outOne = one.stdout + one.stderr;
  const outTwo = two.stdout + two.stderr;
  assert.match(outOne, /events processed\s+3,000 \([\d.]+k? events\/s on one event loop\)/);
  assert.match(outTwo, /events processed\s+3,000 \([\d.]+k? events\/s on 2 worker threads\)/);
  // the rate is the processing's: the start (stores, restore, and with threads their loading) apart
  assert.match(
    outOne,
    /processed 3,000 events in [\d.]+ s: .* \(started in [\d.]+ s: stores opened and restored\)/,
  );
  assert.match(outTwo, /\(started in [\d.]+ s: stores opened and restored, threads loaded\)/);
  const carts = (out: string) => /open carts in store\s+([\d,]+)/.exec(out)?.[1];
  const totals = (out: string) => /cart totals emitted\s+([\d,]+)/.exec(out)?.[1];
  assert.ok(carts(outOne), outOne);
  assert.equal(carts(outTwo), carts(outOne));
  assert.equal(totals(outTwo), totals(outOne));
  assert.equal(totals(outOne), '3,000');
});

test('bin/eddy.js: consume | head -2 and produce | head -1 end quietly (no EPIPE stack trace)', (t) => {
  const dir = tempDir(t);
  assert.equal(eddy(dir, ['topics', 'create', 'orders', '--partitions', '1']).status, 0);
  // more than a pipe buffer (64 KiB) of output, so consume is still writing when head exits
  const lines = Array.from({ length: 5000 }, (_, i) => `key-${i}\tvalue-${i}-${'x'.repeat(20)}`).join('\n');
  writeFileSync(join(dir, 'in.tsv'), `${lines}\n`);
  const sh = (pipeline: string): { status: string; stdout: string; stderr: string } => {
    const r = spawnSync('bash', ['-c', `${pipeline}; echo "\${PIPESTATUS[0]}" > ${dir}/status`], {
      env: { ...process.env, EDDY_FROM_SOURCE: '1', EDDY: `${process.execPath} ${BIN}`, DIR: dir },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return {
      status: readFileSync(join(dir, 'status'), 'utf8').trim(),
      stdout: r.stdout,
      stderr: readFileSync(join(dir, 'err'), 'utf8'),
    };
  };
  // `| true` closes the pipe before eddy writes its first byte: the write fails with EPIPE for sure
  const produced = sh('$EDDY produce orders --file "$DIR/in.tsv" --data-dir "$DIR" 2>"$DIR/err" | true');
  assert.equal(produced.stderr, '');
  assert.equal(produced.status, '141');
  const head1 = sh('$EDDY produce orders --file "$DIR/in.tsv" --data-dir "$DIR" 2>"$DIR/err" | head -1');
  assert.equal(head1.stderr, '');
  assert.equal(head1.stdout, 'produced 5000 record(s) to topic orders\n');
  const head2 = sh('$EDDY consume orders --from-beginning --data-dir "$DIR" 2>"$DIR/err" | head -2');
  assert.equal(head2.stderr, '', 'no stack trace');
  assert.equal(head2.status, '141');
  assert.equal(
    head2.stdout,
    `0\t0\tkey-0\tvalue-0-${'x'.repeat(20)}\n0\t1\tkey-1\tvalue-1-${'x'.repeat(20)}\n`,
  );
  // the records of the first produce (whose output nobody read) were written all the same
  const count = eddy(dir, ['topics', 'describe', 'orders', '--json']);
  assert.equal(JSON.parse(count.stdout).partitions[0].endOffset, 10_000);
});
