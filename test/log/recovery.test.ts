/**
 * What opening the embedded log repairs and finds damaged, and how it says so: every cut (a torn or
 * corrupt tail), every damaged batch before the tail and every rolled-back transaction is a
 * `LogRecovery` — handed to `onRecovery`, kept in `recoveries()` — naming topic, partition, offsets
 * and bytes; damage is reported at the batch that is damaged.
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  cpSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type EmbeddedLog, openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { formatRecovery } from '../../src/log/embedded/recovery.js';
import type { LogRecovery } from '../../src/log/types.js';
import { tempDir } from '../helpers/tmp.js';
import { readAll } from './log-suite.js';

const records = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({
    key: Buffer.from(`${prefix}${i}`),
    value: Buffer.from(`value-${i}`),
  }));

/** The log files of a partition, oldest first. */
function logFiles(dir: string, topic: string, partition: number): string[] {
  const pdir = join(dir, 'topics', topic, String(partition));
  return readdirSync(pdir)
    .filter((f) => f.endsWith('.log'))
    .sort()
    .map((f) => join(pdir, f));
}

/** The byte positions of the batches of a log file. */
function batchPositions(file: string): number[] {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const out: number[] = [];
    for (let p = 0; readSync(fd, head, 0, 8, p) === 8; p += head.readUInt32LE(4)) out.push(p);
    return out;
  } finally {
    closeSync(fd);
  }
}

function flipByte(file: string, position: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, position);
  b[0] ^= 0xff;
  writeSync(fd, b, 0, 1, position);
  closeSync(fd);
}

/** Opens `dir`, collecting what `onRecovery` hears, runs `fn`, closes. */
async function reopen<T>(
  dir: string,
  fn: (log: EmbeddedLog, heard: LogRecovery[]) => Promise<T>,
): Promise<T> {
  const heard: LogRecovery[] = [];
  const log = await openEmbeddedLog({ dir, onRecovery: (r) => heard.push(r) });
  try {
    return await fn(log, heard);
  } finally {
    await log.close();
  }
}

/** A topic with one partition of two 20-record batches (offsets 0..39). */
async function twoBatches(dir: string): Promise<string> {
  await reopen(dir, async (log) => {
    await log.createTopic('t', { partitions: 1 });
    await log.append('t', 0, records(20, 'a'));
    await log.append('t', 0, records(20, 'b'));
  });
  return logFiles(dir, 't', 0)[0];
}

describe('recovery of the embedded log, reported', () => {
  it('a last segment cut 5 bytes short: the torn batch is cut off and reported with its offsets', async (t) => {
    const dir = tempDir(t);
    const file = await twoBatches(dir);
    const [, second] = batchPositions(file);
    const size = statSync(file).size;
    truncateSync(file, size - 5);
    await reopen(dir, async (log, heard) => {
      const expected: LogRecovery = {
        topic: 't',
        partition: 0,
        reason: 'torn-tail',
        segment: file,
        position: second,
        fromOffset: 20,
        toOffset: 40,
        bytes: size - 5 - second,
      };
      assert.deepEqual(heard, [expected]);
      assert.deepEqual(log.recoveries(), [expected]);
      assert.equal(await log.endOffset('t', 0), 20);
      assert.match(
        formatRecovery(expected),
        new RegExp(
          `^recovery cut topic "t" partition 0: records 20\\.\\.39 \\(20 records\\), ${size - 5 - second} bytes at byte ${second} of `,
        ),
      );
    });
    await reopen(dir, async (log, heard) => {
      assert.deepEqual(heard, [], 'a clean open reports nothing');
      assert.deepEqual(log.recoveries(), []);
    });
  });

  it('a flipped byte inside the last batch: a corrupt tail, cut off and reported', async (t) => {
    const dir = tempDir(t);
    const file = await twoBatches(dir);
    const [, second] = batchPositions(file);
    const size = statSync(file).size;
    flipByte(file, size - 10);
    await reopen(dir, async (log, heard) => {
      assert.deepEqual(
        heard.map((r) => [r.reason, r.fromOffset, r.toOffset, r.position, r.bytes]),
        [['corrupt-tail', 20, 40, second, size - second]],
      );
      assert.equal((await readAll(log, 't', 0)).length, 20);
    });
  });

  it('a damaged header in a sealed segment is reported at that batch, not at the next one', async (t) => {
    const dir = tempDir(t);
    await reopen(dir, async (log) => {
      await log.createTopic('t', { partitions: 1, segmentBytes: 4096 });
      for (let i = 0; i < 30; i++) await log.append('t', 0, records(20, `k${i}-`));
    });
    const [file] = logFiles(dir, 't', 0);
    assert.ok(logFiles(dir, 't', 0).length > 1, 'the first segment is sealed');
    const victim = batchPositions(file)[4];
    flipByte(file, victim + 10); // a byte of the batch's base offset: the next batch looked wrong
    await reopen(dir, async (log, heard) => {
      assert.deepEqual(
        heard.map((r) => [r.reason, r.segment, r.position, r.fromOffset]),
        [['corrupt-middle', file, victim, 80]],
      );
      // the good records before the damage, then the error naming the damaged batch and the fix
      assert.equal((await log.read('t', 0, 0, { maxRecords: 1000 })).length, 80);
      await assert.rejects(log.read('t', 0, 80), (err: Error & { code?: string; at?: object }) => {
        assert.equal(err.code, 'EDDY_CORRUPT_LOG');
        assert.deepEqual(err.at, { file, position: victim, offset: 80, topic: 't', partition: 0 });
        assert.ok(err.message.includes(`at byte ${victim} of ${file}`), err.message);
        assert.ok(
          err.message.includes('eddy topics truncate t --partition 0 --offset 80 --yes'),
          err.message,
        );
        return true;
      });
      await assert.rejects(log.append('t', 0, records(1, 'x')), { code: 'EDDY_CORRUPT_LOG' });
      await log.truncate('t', 0, 80);
      assert.equal((await log.append('t', 0, records(1, 'x'))).baseOffset, 80);
    });
    await reopen(dir, async (log, heard) => {
      assert.deepEqual(heard, []);
      assert.equal((await readAll(log, 't', 0)).length, 81);
    });
  });

  it('a read-only follower stops at a damaged header too, with the same error, instead of going quiet', async (t) => {
    const dir = tempDir(t);
    await reopen(dir, async (log) => {
      await log.createTopic('t', { partitions: 1 });
      for (let i = 0; i < 8; i++) await log.append('t', 0, records(20, `k${i}-`));
    });
    const [file] = logFiles(dir, 't', 0);
    const victim = batchPositions(file)[3];
    flipByte(file, victim + 10);
    const follower = await openEmbeddedLog({ dir, readOnly: true });
    try {
      assert.equal((await follower.read('t', 0, 0, { maxRecords: 1000 })).length, 60);
      await assert.rejects(follower.read('t', 0, 60), (err: Error & { at?: object }) => {
        assert.deepEqual(err.at, { file, position: victim, offset: 60, topic: 't', partition: 0 });
        return true;
      });
    } finally {
      await follower.close();
    }
  });

  it('damage in the active segment with good batches after it is reported, and nothing is cut', async (t) => {
    const dir = tempDir(t);
    await reopen(dir, async (log) => {
      await log.createTopic('t', { partitions: 1 });
      for (let i = 0; i < 8; i++) await log.append('t', 0, records(20, `k${i}-`));
    });
    const [file] = logFiles(dir, 't', 0);
    const positions = batchPositions(file);
    const size = statSync(file).size;
    flipByte(file, positions[5] + 10);
    await reopen(dir, async (log, heard) => {
      assert.deepEqual(
        heard.map((r) => [r.reason, r.position, r.fromOffset, r.bytes]),
        [['corrupt-middle', positions[5], 100, size - positions[5]]],
      );
      assert.equal(statSync(file).size, size, 'nothing was cut');
      assert.equal((await log.read('t', 0, 0, { maxRecords: 1000 })).length, 100);
      await assert.rejects(log.read('t', 0, 100), (err: Error & { at?: { position: number } }) => {
        assert.equal(err.at?.position, positions[5]);
        return true;
      });
    });
  });

  it('a transaction that never committed is rolled back on open and reported with its offsets', async (t) => {
    const dir = tempDir(t);
    const copy = tempDir(t);
    await reopen(dir, async (log) => {
      await log.createTopic('tx', { partitions: 1 });
      await log.append('tx', 0, records(3, 'c'));
      const open = await log.beginTransaction();
      await open.append('tx', 0, records(4, 'u'));
      cpSync(dir, copy, { recursive: true }); // a crash now
      await open.abort();
    });
    await reopen(copy, async (log, heard) => {
      assert.deepEqual(
        heard.map((r) => [r.reason, r.topic, r.partition, r.fromOffset, r.toOffset, r.bytes > 0]),
        [['uncommitted-transaction', 'tx', 0, 3, 7, true]],
      );
      assert.deepEqual(log.recoveries(), heard);
    });
  });
});
