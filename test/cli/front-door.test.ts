/**
 * The command line as a new user meets it (issue 9): negative values, invalid UTF-8 and blank
 * lines in produce input, `consume --offset`, `--json` output, unknown `EDDY_*` variables, the
 * idle status line of `eddy run`, and a closed stdout.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { closestKnown, unknownEnvWarnings } from '../../src/cli/env.js';
import { EXIT_PIPE_CLOSED, main, processIO } from '../../src/cli/main.js';
import { firstInvalidUtf8 } from '../../src/cli/produce-command.js';
import { RunStatus } from '../../src/cli/progress.js';
import { tempDir } from '../helpers/tmp.js';

async function eddy(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

async function topic(t: { after(fn: () => void): void }, partitions = 1): Promise<string> {
  const dir = tempDir(t);
  const r = await eddy('topics', 'create', 'orders', '--partitions', String(partitions), '--data-dir', dir);
  assert.equal(r.code, 0, r.err);
  return dir;
}

describe('negative numbers as separate values', () => {
  test('--retention-ms -1 and --retention-bytes -1 are taken, as the help documents', async (t) => {
    const dir = tempDir(t);
    const r = await eddy(
      'topics',
      'create',
      'forever',
      '--partitions',
      '1',
      '--retention-ms',
      '-1',
      '--retention-bytes',
      '-1',
      '--data-dir',
      dir,
    );
    assert.equal(r.code, 0, r.err);
    const d = await eddy('topics', 'describe', 'forever', '--json', '--data-dir', dir);
    const info = JSON.parse(d.out);
    assert.equal(info.config.retentionMs, -1);
    assert.equal(info.config.retentionBytes, -1);
  });

  test('a negative value where none is allowed names the flag and its range', async (t) => {
    const dir = tempDir(t);
    const r = await eddy('topics', 'create', 'x', '--partitions', '-3', '--data-dir', dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /--partitions must be an integer >= 1, got "-3"/);
    const c = await eddy('consume', 'x', '--max', '-1', '--data-dir', dir);
    assert.match(c.err, /--max must be an integer >= 0, got "-1"/);
  });
});

describe('produce input', () => {
  test('--format json: invalid UTF-8 is an error naming the line, and nothing is written', async (t) => {
    const dir = await topic(t);
    const file = join(dir, 'in.jsonl');
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from('{"key":"a","value":"ok"}\n{"key":"b","value":"caf'),
        Buffer.from([0xe9]), // latin-1 é: not UTF-8
        Buffer.from('"}\n'),
      ]),
    );
    const r = await eddy('produce', 'orders', '--format', 'json', '--file', file, '--data-dir', dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /line 2: not valid UTF-8 \(byte 0xe9 at byte 24 of the line\)/);
    assert.match(r.err, /nothing was written/);
    const c = await eddy('consume', 'orders', '--from-beginning', '--data-dir', dir);
    assert.equal(c.out, '');
  });

  test('firstInvalidUtf8 finds the first bad byte and accepts all valid text', () => {
    assert.equal(firstInvalidUtf8(Buffer.from('plain ascii, é, 漢字, 🙂')), -1);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xc3])), 1); // truncated sequence
    assert.equal(firstInvalidUtf8(Buffer.from([0xc0, 0x80])), 0); // overlong
    assert.equal(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80])), 0); // surrogate
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0x80])), 1); // lone continuation
  });

  for (const format of ['tsv', 'json'] as const) {
    test(`--format ${format}: empty and whitespace-only lines are skipped, as the help says`, async (t) => {
      const dir = await topic(t);
      const line = format === 'tsv' ? 'k\tv' : '{"key":"k","value":"v"}';
      const file = join(dir, 'in.txt');
      writeFileSync(file, `${line}\n\n   \n\t\n \t \r\n${line}\n`);
      const r = await eddy('produce', 'orders', '--format', format, '--file', file, '--data-dir', dir);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /produced 2 record\(s\)/);
    });
  }
});

describe('consume --offset', () => {
  test('starts at offset N of the partition, and checks the range', async (t) => {
    const dir = await topic(t, 2);
    const file = join(dir, 'in.jsonl');
    writeFileSync(file, [0, 1, 2, 3, 4].map((i) => `{"value":"v${i}","partition":1}`).join('\n'));
    assert.equal(
      (await eddy('produce', 'orders', '--format', 'json', '--file', file, '--data-dir', dir)).code,
      0,
    );
    const r = await eddy('consume', 'orders', '--partition', '1', '--offset', '3', '--data-dir', dir);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '1\t3\t\tv3\n1\t4\t\tv4\n');
    const past = await eddy('consume', 'orders', '--partition', '1', '--offset', '9', '--data-dir', dir);
    assert.equal(past.code, 1);
    assert.match(
      past.err,
      /--offset 9 is out of range for topic "orders" partition 1: its offsets are 0\.\.5/,
    );
    const alone = await eddy('consume', 'orders', '--offset', '1', '--data-dir', dir);
    assert.match(alone.err, /--offset needs --partition P/);
    const both = await eddy(
      'consume',
      'orders',
      '--partition',
      '1',
      '--offset',
      '1',
      '--from-beginning',
      '--data-dir',
      dir,
    );
    assert.match(both.err, /--offset and --from-beginning exclude each other/);
  });
});

describe('--json output', () => {
  test('topics list and topics describe', async (t) => {
    const dir = await topic(t, 2);
    await eddy('topics', 'create', 'a', '--partitions', '1', '--data-dir', dir);
    const list = await eddy('topics', 'list', '--json', '--data-dir', dir);
    assert.deepEqual(JSON.parse(list.out), ['a', 'orders']);
    const d = await eddy('topics', 'describe', 'orders', '--json', '--data-dir', dir);
    const info = JSON.parse(d.out);
    assert.equal(info.name, 'orders');
    assert.equal(info.config.partitions, 2);
    assert.deepEqual(info.partitions, [
      { partition: 0, earliestOffset: 0, endOffset: 0 },
      { partition: 1, earliestOffset: 0, endOffset: 0 },
    ]);
    const misplaced = await eddy('topics', 'delete', 'a', '--json', '--data-dir', dir);
    assert.match(misplaced.err, /--json is only for "eddy topics list" and "eddy topics describe"/);
  });

  test('store stats', async (t) => {
    const dir = tempDir(t);
    const demo = await eddy(
      'demo',
      '--events',
      '500',
      '--users',
      '40',
      '--partitions',
      '2',
      '--data-dir',
      dir,
    );
    assert.equal(demo.code, 0, demo.err);
    const r = await eddy(
      'store',
      'stats',
      '--job',
      'shopping-cart',
      '--store',
      'carts',
      '--json',
      '--data-dir',
      dir,
    );
    assert.equal(r.code, 0, r.err);
    const stats = JSON.parse(r.out);
    assert.equal(stats.engine, 'lmdb');
    assert.equal(stats.partitions.length, 2);
    assert.equal(
      stats.totalKeys,
      stats.partitions.reduce((n: number, p: { keys: number }) => n + p.keys, 0),
    );
    assert.ok(stats.totalKeys > 0);
    assert.ok(stats.partitions.every((p: { diskBytes: number }) => p.diskBytes > 0));
  });
});

describe('EDDY_* environment variables', () => {
  test('an unknown one is warned about, naming the closest known one', async (t) => {
    assert.deepEqual(unknownEnvWarnings({ EDDY_DATADIR: '/x', EDDY_DATA_DIR: '/y', PATH: '/bin' }), [
      'eddy: warning: unknown environment variable EDDY_DATADIR is ignored (did you mean EDDY_DATA_DIR?)',
    ]);
    assert.equal(closestKnown('EDDY_BROKER'), 'EDDY_BROKERS');
    assert.equal(closestKnown('EDDY_BAKCEND'), 'EDDY_BACKEND');
    assert.equal(closestKnown('EDDY_SOMETHING_ELSE_ENTIRELY'), undefined);
    const dir = await topic(t);
    process.env.EDDY_FSYNK = 'always';
    t.after(() => delete process.env.EDDY_FSYNK);
    const r = await eddy('topics', 'list', '--data-dir', dir);
    assert.equal(r.code, 0);
    assert.match(r.err, /unknown environment variable EDDY_FSYNK is ignored \(did you mean EDDY_FSYNC\?\)/);
  });
});

describe('eddy run status line', () => {
  test('prints nothing while idle, and a line when messages were processed', () => {
    const s = new RunStatus(0);
    assert.equal(s.line({ processed: 0, commits: 0, sent: 0 }, 0), undefined, 'idle from the start');
    assert.equal(s.line({ processed: 0, commits: 1, sent: 0 }, 2000), undefined, 'a timer commit is no news');
    assert.equal(
      s.line({ processed: 1000, commits: 1, sent: 10 }, 4000),
      'processed 1,000 messages (500/s), 1 commits, sent 10',
    );
    assert.equal(s.line({ processed: 1000, commits: 2, sent: 10 }, 6000), undefined, 'idle again');
    assert.equal(
      s.line({ processed: 1500, commits: 2, sent: 10 }, 7000),
      'processed 1,500 messages (500/s), 2 commits, sent 10',
    );
  });
});

test('the first status line counts its rate from the start of the job', () => {
  const s = new RunStatus(1000);
  assert.equal(
    s.line({ processed: 2000, commits: 0, sent: 0 }, 3000),
    'processed 2,000 messages (1.0k/s), 0 commits, sent 0',
  );
});

describe('a closed stdout', () => {
  test('processIO turns EPIPE into io.closed and drops later output', async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const io = processIO(stdout, stderr);
    io.out('one\n');
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    stdout.emit('error', epipe);
    assert.equal(io.closed?.aborted, true);
    io.out('two\n'); // dropped, no throw
    assert.equal(String(stdout.read()), 'one\n');
  });

  test('a command whose reader went away exits with 141, quietly', async (t) => {
    const dir = await topic(t);
    const closed = new AbortController();
    closed.abort();
    let err = '';
    const code = await main(['topics', 'list', '--data-dir', dir], {
      out: () => undefined,
      err: (e) => (err += e),
      closed: closed.signal,
    });
    assert.equal(code, EXIT_PIPE_CLOSED);
    assert.equal(err, '');
  });
});
