/**
 * What the command line says about a damaged data directory: every command that opens the log as
 * its writer (and `eddy run`) prints what recovery cut or found on stderr; `consume` (a read-only
 * follower, which repairs nothing) prints the good records before a damaged batch, then an error
 * naming `eddy topics truncate`, which drops the damage (only with --yes).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = fileURLToPath(new URL('../../bin/eddy.js', import.meta.url));
const JOB = fileURLToPath(new URL('../runtime/fixtures/count-job.ts', import.meta.url));

async function eddy(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** Topic `topic` with one partition of `batches` produce calls of 20 records each; returns its log file. */
async function setup(dir: string, topic: string, batches: number): Promise<string> {
  assert.equal((await eddy('topics', 'create', topic, '--partitions', '1', '--data-dir', dir)).code, 0);
  for (let b = 0; b < batches; b++) {
    const lines = Array.from({ length: 20 }, (_, i) => `k${b}-${i}\tvalue-${i}`).join('\n');
    const file = join(dir, `input-${b}.tsv`);
    writeFileSync(file, `${lines}\n`);
    const r = await eddy('produce', topic, '--file', file, '--data-dir', dir);
    assert.equal(r.code, 0, r.err);
  }
  const pdir = join(dir, 'log', 'topics', topic, '0');
  return join(pdir, readdirSync(pdir).find((f) => f.endsWith('.log'))!);
}

function batchPositions(file: string): number[] {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(8);
  const out: number[] = [];
  for (let p = 0; readSync(fd, head, 0, 8, p) === 8; p += head.readUInt32LE(4)) out.push(p);
  closeSync(fd);
  return out;
}

describe('the command line on a damaged data directory', () => {
  test('the first command after a torn tail says what recovery cut; later ones say nothing', async (t) => {
    const dir = tempDir(t);
    const file = await setup(dir, 't', 2);
    truncateSync(file, statSync(file).size - 5);
    const first = await eddy('topics', 'describe', 't', '--data-dir', dir);
    assert.equal(first.code, 0, first.err);
    assert.match(
      first.err,
      /^eddy: recovery cut topic "t" partition 0: records 20\.\.39 \(20 records\), \d+ bytes at byte \d+ of .*: the last write was cut short/,
    );
    const again = await eddy('topics', 'list', '--data-dir', dir);
    assert.equal(again.err, '');
  });

  test('consume prints the good records, then the damaged batch and the command that drops it', async (t) => {
    const dir = tempDir(t);
    const file = await setup(dir, 't', 8);
    const positions = batchPositions(file);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xee]), 0, 1, positions[5] + 60); // inside the 6th batch (offsets 100..119)
    closeSync(fd);

    const consumed = await eddy('consume', 't', '--from-beginning', '--data-dir', dir);
    assert.equal(consumed.code, 1);
    assert.equal(consumed.out.trim().split('\n').length, 100, 'every record before the damaged batch');
    const error = consumed.err.split('\n').find((l) => l.startsWith('eddy consume:'))!;
    assert.ok(
      error.includes(`offset 100: a checksum (CRC-32C) mismatch at byte ${positions[5]} of ${file}`),
      error,
    );
    assert.ok(error.includes('eddy topics truncate t --partition 0 --offset 100 --yes'), error);

    const produced = await eddy('produce', 't', '--file', join(dir, 'input-0.tsv'), '--data-dir', dir);
    assert.equal(produced.code, 1);
    // a writer's open finds the damage and says so before the command's own error
    assert.match(produced.err, /^eddy: topic "t" partition 0 is damaged at offset 100 \(byte \d+ of /);
    assert.match(produced.err, /EDDY_CORRUPT_LOG/);

    const unconfirmed = await eddy(
      'topics',
      'truncate',
      't',
      '--partition',
      '0',
      '--offset',
      '100',
      '--data-dir',
      dir,
    );
    assert.equal(unconfirmed.code, 1);
    assert.match(unconfirmed.err, /drops the damaged bytes of topic t partition 0; run again with --yes/);
    assert.equal(statSync(file).size, positions.at(-1)! + (positions[1] - positions[0]), 'nothing was cut');

    const badPartition = await eddy(
      'topics',
      'truncate',
      't',
      '--partition',
      '3',
      '--offset',
      '1',
      '--yes',
      '--data-dir',
      dir,
    );
    assert.match(badPartition.err, /partition 3 does not exist \[EDDY_UNKNOWN_PARTITION\]/);
    const badOffset = await eddy(
      'topics',
      'truncate',
      't',
      '--partition',
      '0',
      '--offset',
      '500',
      '--yes',
      '--data-dir',
      dir,
    );
    assert.match(
      badOffset.err,
      /offset 500 is out of range for t\/0 \(earliest 0, end 100\) \[EDDY_OFFSET_OUT_OF_RANGE\]/,
    );
    const noOffset = await eddy('topics', 'truncate', 't', '--partition', '0', '--data-dir', dir);
    assert.match(noOffset.err, /missing --offset O/);

    const truncated = await eddy(
      'topics',
      'truncate',
      't',
      '--partition',
      '0',
      '--offset',
      '100',
      '--yes',
      '--data-dir',
      dir,
    );
    assert.equal(truncated.code, 0, truncated.err);
    assert.match(truncated.out, /truncated topic t partition 0 at offset 100: dropped the damaged bytes/);
    assert.equal(statSync(file).size, positions[5]);

    const after = await eddy('produce', 't', '--file', join(dir, 'input-0.tsv'), '--data-dir', dir);
    assert.equal(after.code, 0, after.err);
    assert.equal(after.err, '', 'no damage left to report');
    assert.match(after.out, /offsets 100\.\.119/);
  });

  test('eddy run reports what recovery cut on stderr', (t) => {
    const dir = tempDir(t);
    const file = spawnSync(
      process.execPath,
      [BIN, 'topics', 'create', 'events', '--partitions', '1', '--data-dir', dir],
      { env: { ...process.env, EDDY_FROM_SOURCE: '1' }, encoding: 'utf8' },
    );
    assert.equal(file.status, 0, file.stderr);
    const env = { ...process.env, EDDY_FROM_SOURCE: '1' };
    for (let i = 0; i < 2; i++) {
      const p = spawnSync(process.execPath, [BIN, 'produce', 'events', '--data-dir', dir], {
        input: Array.from({ length: 20 }, (_, j) => `k${j}\t${i}`).join('\n'),
        env,
        encoding: 'utf8',
      });
      assert.equal(p.status, 0, p.stderr);
    }
    const log = join(dir, 'log', 'topics', 'events', '0', '00000000000000000000.log');
    truncateSync(log, statSync(log).size - 5);
    const run = spawnSync(process.execPath, [BIN, 'run', JOB, '--data-dir', dir, '--until-caught-up'], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stderr,
      /eddy: recovery cut topic "events" partition 0: records 20\.\.39 \(20 records\)/,
    );
    assert.match(run.stderr, /processed 20 messages/);
  });
});
