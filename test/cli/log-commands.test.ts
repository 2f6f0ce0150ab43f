/** `eddy topics | produce | consume` called in-process through `main(argv, io)` on a temp data dir. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { embeddedLogDir } from '../../src/cli/backend.js';
import { consume } from '../../src/cli/consume-command.js';
import { main } from '../../src/cli/main.js';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { partitionForKey } from '../../src/util/murmur2.js';
import { tempDir } from '../helpers/tmp.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

function capture(): {
  io: { out: (t: string) => void; err: (t: string) => void };
  result: () => { out: string; err: string };
} {
  let out = '';
  let err = '';
  return { io: { out: (t) => (out += t), err: (t) => (err += t) }, result: () => ({ out, err }) };
}

async function eddy(...argv: string[]): Promise<Run> {
  const c = capture();
  const code = await main(argv, c.io);
  return { code, ...c.result() };
}

describe('eddy topics', () => {
  test('create, list, describe and delete a topic', async (t) => {
    const dir = tempDir(t);
    const created = await eddy(
      'topics',
      'create',
      'orders',
      '--partitions',
      '3',
      '--cleanup',
      'compact',
      '--data-dir',
      dir,
    );
    assert.equal(created.code, 0, created.err);
    assert.match(created.out, /created topic orders with 3 partition\(s\), cleanup compact/);
    await eddy(
      'topics',
      'create',
      'clicks',
      '--partitions',
      '1',
      '--retention-ms',
      '1000',
      '--data-dir',
      dir,
    );
    assert.equal((await eddy('topics', 'list', '--data-dir', dir)).out, 'clicks\norders\n');
    const described = await eddy('topics', 'describe', 'clicks', '--data-dir', dir);
    assert.equal(described.code, 0);
    assert.match(described.out, /retention-ms\s+1000/);
    assert.match(described.out, /cleanup\s+delete/);
    assert.match(described.out, /partition\s+earliest\s+end\n\s+0\s+0\s+0\n/);
    assert.equal((await eddy('topics', 'delete', 'clicks', '--data-dir', dir)).code, 0);
    assert.equal((await eddy('topics', 'list', '--data-dir', dir)).out, 'orders\n');
  });

  test('takes the data directory from EDDY_DATA_DIR', async (t) => {
    const dir = tempDir(t);
    const before = process.env.EDDY_DATA_DIR;
    process.env.EDDY_DATA_DIR = dir;
    t.after(() => {
      if (before === undefined) delete process.env.EDDY_DATA_DIR;
      else process.env.EDDY_DATA_DIR = before;
    });
    assert.equal((await eddy('topics', 'create', 'x', '--partitions', '1')).code, 0);
    assert.equal((await eddy('topics', 'list', '--data-dir', dir)).out, 'x\n');
  });

  test('an unknown flag is an error naming it', async (t) => {
    const dir = tempDir(t);
    const r = await eddy('topics', 'create', 'x', '--partitions', '1', '--partitons', '2', '--data-dir', dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /unknown option --partitons for "eddy topics"/);
    assert.match(r.err, /EDDY_INVALID_ARGUMENT/);
  });

  test('bad values and missing arguments are errors naming them', async (t) => {
    const dir = tempDir(t);
    assert.match(
      (await eddy('topics', 'create', 'x', '--partitions', '0', '--data-dir', dir)).err,
      /--partitions must be an integer >= 1, got "0"/,
    );
    assert.match((await eddy('topics', 'create', 'x', '--data-dir', dir)).err, /missing --partitions/);
    assert.match(
      (await eddy('topics', 'create', '--partitions', '1', '--data-dir', dir)).err,
      /missing NAME/,
    );
    assert.match(
      (await eddy('topics', 'create', 'x', '--partitions', '1', '--cleanup', 'nope', '--data-dir', dir)).err,
      /--cleanup must be one of delete, compact/,
    );
    assert.match((await eddy('topics', 'frob', '--data-dir', dir)).err, /unknown subcommand "topics frob"/);
    const missing = await eddy('topics', 'list', '--data-dir', join(dir, 'nowhere'));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no Eddy data directory at/);
  });

  test('--help prints the usage of each command', async () => {
    for (const cmd of ['topics', 'produce', 'consume']) {
      const r = await eddy(cmd, '--help');
      assert.equal(r.code, 0);
      assert.match(r.out, new RegExp(`Usage:[\\s\\S]*eddy ${cmd}`));
    }
    assert.match((await eddy('produce', '--help')).out, /--format FORMAT\s+tsv \(default\) or json/);
  });
});

describe('eddy produce and consume', () => {
  async function setup(t: { after(fn: () => void): void }, partitions = 3): Promise<string> {
    const dir = tempDir(t);
    const r = await eddy('topics', 'create', 'orders', '--partitions', String(partitions), '--data-dir', dir);
    assert.equal(r.code, 0, r.err);
    return dir;
  }

  test('TSV lines are routed by murmur2 and read back from the beginning', async (t) => {
    const dir = await setup(t);
    const file = join(dir, 'in.tsv');
    writeFileSync(file, 'alice\tbook\nbob\tpen\r\n\nno key\ncarol\tcup\twith tab\n');
    const p = await eddy('produce', 'orders', '--file', file, '--data-dir', dir);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /produced 4 record\(s\) to topic orders/);
    const c = await eddy('consume', 'orders', '--from-beginning', '--data-dir', dir);
    assert.equal(c.code, 0, c.err);
    const lines = c.out.trim().split('\n').sort();
    assert.equal(lines.length, 4);
    for (const [key, value] of [
      ['alice', 'book'],
      ['bob', 'pen'],
      ['carol', `base64:${Buffer.from('cup\twith tab').toString('base64')}`],
    ]) {
      const partition = partitionForKey(Buffer.from(key), 3);
      assert.ok(
        lines.some((l) => l.startsWith(`${partition}\t`) && l.endsWith(`\t${key}\t${value}`)),
        `${key} on ${partition}`,
      );
    }
    assert.ok(lines.some((l) => l.endsWith('\t\tno key')));
  });

  test('without --from-beginning consume starts at the end and prints nothing', async (t) => {
    const dir = await setup(t);
    const file = join(dir, 'in.tsv');
    writeFileSync(file, 'a\t1\n');
    await eddy('produce', 'orders', '--file', file, '--data-dir', dir);
    const c = await eddy('consume', 'orders', '--data-dir', dir);
    assert.equal(c.code, 0);
    assert.equal(c.out, '');
  });

  test('JSON lines: tombstones, headers, explicit partitions, base64, and --max', async (t) => {
    const dir = await setup(t);
    const file = join(dir, 'in.jsonl');
    writeFileSync(
      file,
      [
        '{"key":"k1","value":{"n":1},"headers":{"h":"x"},"partition":1}',
        '{"key":"k1","value":null,"partition":1}',
        `{"key":null,"value":"${Buffer.from([0xff, 0x00]).toString('base64')}","valueEncoding":"base64","partition":1}`,
      ].join('\n'),
    );
    const p = await eddy('produce', 'orders', '--format', 'json', '--file', file, '--data-dir', dir);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /partition 1: 3 record\(s\), offsets 0\.\.2/);
    const c = await eddy(
      'consume',
      'orders',
      '--from-beginning',
      '--format',
      'json',
      '--partition',
      '1',
      '--data-dir',
      dir,
    );
    const recs = c.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(recs.length, 3);
    assert.deepEqual(
      { key: recs[0].key, value: recs[0].value, headers: recs[0].headers, offset: recs[0].offset },
      { key: 'k1', value: '{"n":1}', headers: { h: 'x' }, offset: 0 },
    );
    assert.equal(recs[1].value, null);
    assert.equal(recs[2].valueEncoding, 'base64');
    assert.deepEqual(Buffer.from(recs[2].value, 'base64'), Buffer.from([0xff, 0x00]));
    const limited = await eddy('consume', 'orders', '--from-beginning', '--max', '2', '--data-dir', dir);
    assert.equal(limited.out.trim().split('\n').length, 2);
    assert.match(limited.out, /<tombstone>/);
  });

  test('a bad line is an error with its line number and nothing is written', async (t) => {
    const dir = await setup(t);
    const file = join(dir, 'in.jsonl');
    writeFileSync(file, '{"key":"a","value":"1"}\n{"key":"b","value":"2"}\n{"key":"c","valu":"3"}\n');
    const r = await eddy('produce', 'orders', '--format', 'json', '--file', file, '--data-dir', dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /line 3: unknown field "valu"/);
    const partitionErr = join(dir, 'p.jsonl');
    writeFileSync(partitionErr, '{"key":"a","value":"1"}\n{"value":"2","partition":7}\n');
    const r2 = await eddy('produce', 'orders', '--format', 'json', '--file', partitionErr, '--data-dir', dir);
    assert.match(r2.err, /line 2: partition 7 does not exist/);
    const d = await eddy('topics', 'describe', 'orders', '--data-dir', dir);
    for (const line of d.out.split('\n').filter((l) => /^\s+\d+\s+\d+\s+\d+$/.test(l))) {
      assert.match(line, /\s0$/, 'every partition is still empty');
    }
  });

  test('topics compact keeps the latest record per key of a compact topic', async (t) => {
    const dir = tempDir(t);
    await eddy(
      'topics',
      'create',
      'kv',
      '--partitions',
      '1',
      '--cleanup',
      'compact',
      '--segment-bytes',
      '1024',
      '--data-dir',
      dir,
    );
    const file = join(dir, 'in.tsv');
    for (let part = 0; part < 3; part++) {
      // One produce is one batch: three of them make two closed segments and an active one.
      writeFileSync(
        file,
        Array.from({ length: 100 }, (_, j) => `k${(part * 100 + j) % 5}\tv${part * 100 + j}`).join('\n'),
      );
      assert.equal((await eddy('produce', 'kv', '--file', file, '--data-dir', dir)).code, 0);
    }
    const c = await eddy('topics', 'compact', 'kv', '--data-dir', dir);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /partition 0: \d+ segment\(s\), \d+ records read, \d+ kept/);
    const rest = (await eddy('consume', 'kv', '--from-beginning', '--data-dir', dir)).out.trim().split('\n');
    assert.ok(rest.length < 300);
    for (let k = 0; k < 5; k++)
      assert.ok(
        rest.some((l) => l.endsWith(`\tk${k}\tv${295 + k}`)),
        `latest k${k}`,
      );
    // a job's hold (what its last checkpoint covers in a changelog): compact says so, and keeps
    // the records that only newer ones past the hold would drop
    const log = await openEmbeddedLog({ dir: embeddedLogDir(dir) });
    assert.equal(await log.endOffset('kv', 0), 300);
    await log.holdCompaction('kv', 0, 300);
    await log.close();
    writeFileSync(file, Array.from({ length: 100 }, (_, j) => `k${j % 5}\tw${j}`).join('\n'));
    for (let i = 0; i < 3; i++) await eddy('produce', 'kv', '--file', file, '--data-dir', dir);
    const held = await eddy('topics', 'compact', 'kv', '--data-dir', dir);
    assert.match(
      held.out,
      /records from offset 300 on not used \(held at what its job's last checkpoint covers\)/,
    );
    const after = (await eddy('consume', 'kv', '--from-beginning', '--data-dir', dir)).out.trim().split('\n');
    for (let k = 0; k < 5; k++)
      assert.ok(
        after.some((l) => l.endsWith(`\tk${k}\tv${295 + k}`)),
        `k${k} kept`,
      );

    await eddy('topics', 'create', 'd', '--partitions', '1', '--data-dir', dir);
    assert.match(
      (await eddy('topics', 'compact', 'd', '--data-dir', dir)).err,
      /only compact topics are compacted/,
    );
  });

  test('--follow prints new records as they arrive and stops on abort', async (t) => {
    const dir = tempDir(t);
    const log = await openEmbeddedLog({ dir: embeddedLogDir(dir), fsync: 'os' });
    t.after(() => log.close());
    await log.createTopic('orders', { partitions: 2 });
    await log.append('orders', 0, [{ key: Buffer.from('old'), value: Buffer.from('before') }]);
    const stop = new AbortController();
    let out = '';
    let wake: (() => void) | undefined;
    const io = {
      out: (s: string) => {
        out += s;
        wake?.();
      },
      err: (s: string) => assert.fail(s),
    };
    const following = consume(['orders', '--follow'], io, stop.signal, log);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(out, '', 'starts at the end');
    const arrived = new Promise<void>((r) => (wake = r));
    await log.append('orders', 1, [{ key: Buffer.from('k'), value: Buffer.from('new') }]);
    await arrived;
    assert.equal(out, '1\t0\tk\tnew\n');
    stop.abort();
    assert.equal(await following, 0);
  });
});
