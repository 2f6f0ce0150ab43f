/** `--max-record-bytes` on `eddy topics create`, and `eddy produce` naming the line of a record over it. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { tempDir } from '../helpers/tmp.js';

async function eddy(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

test('eddy produce refuses a record over the topic limit, naming its line, and writes nothing', async (t) => {
  const dir = tempDir(t);
  const input = join(dir, 'in.tsv');
  writeFileSync(input, `a\tsmall\nb\t${'x'.repeat(2 * 1024 * 1024)}\nc\tsmall\n`);
  assert.equal((await eddy('topics', 'create', 't', '--partitions', '1', '--data-dir', dir)).code, 0);
  const refused = await eddy('produce', 't', '--file', input, '--data-dir', dir);
  assert.equal(refused.code, 1);
  assert.match(
    refused.err,
    /line 2: the record for topic "t" partition 0 is 2097153 bytes \(key, value and headers\), over the topic's maxRecordBytes of 1048576; nothing was written.*\[EDDY_RECORD_TOO_LARGE\]/,
  );
  assert.match((await eddy('topics', 'describe', 't', '--data-dir', dir)).out, /^ {2}0 +0 +0$/m);

  const created = await eddy(
    'topics',
    'create',
    'big',
    '--partitions',
    '1',
    '--max-record-bytes',
    '4194304',
    '--data-dir',
    dir,
  );
  assert.equal(created.code, 0, created.err);
  assert.match((await eddy('topics', 'describe', 'big', '--data-dir', dir)).out, /max-record-bytes +4194304/);
  const produced = await eddy('produce', 'big', '--file', input, '--data-dir', dir);
  assert.equal(produced.code, 0, produced.err);
  assert.match(produced.out, /produced 3 record\(s\)/);
});
