import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  ftruncateSync,
  openSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type EmbeddedLog, openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { makeTempDir, tempDir } from '../helpers/tmp.js';
import { logSuite, readAll } from './log-suite.js';

const removals: (() => void)[] = [];
after(() => {
  for (const r of removals) r();
});

logSuite({
  name: 'embedded',
  open: async () => {
    const { dir, remove } = makeTempDir('eddy-log-');
    removals.push(remove);
    return openEmbeddedLog({ dir, fsync: 'commit' });
  },
  supports: { truncate: true, transactions: true, persistent: true },
});

const b = (s: string): Buffer => Buffer.from(s);
const values = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({
    key: b(`${prefix}${i}`),
    value: b(`${prefix}-value-${i}`.padEnd(100, '.')),
  }));

function segmentFiles(dir: string, topic: string, p: number, ext: string): string[] {
  const pdir = join(dir, 'topics', topic, String(p));
  return readdirSync(pdir)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => join(pdir, f));
}

async function withLog<T>(dir: string, fn: (log: EmbeddedLog) => Promise<T>): Promise<T> {
  const log = await openEmbeddedLog({ dir });
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

describe('the embedded log on disk', () => {
  it('keeps topics, configs and records across close and reopen', async (t) => {
    const dir = tempDir(t);
    await withLog(dir, async (log) => {
      await log.createTopic('orders', { partitions: 2, cleanup: 'compact', segmentBytes: 4096 });
      await log.append('orders', 1, [{ key: b('a'), value: b('1'), headers: { h: b('x') }, timestamp: 5 }]);
      await log.append('orders', 1, values(100, 'r'));
    });
    await withLog(dir, async (log) => {
      assert.deepEqual(await log.listTopics(), ['orders']);
      const info = await log.describeTopic('orders');
      assert.equal(info.config.cleanup, 'compact');
      assert.equal(info.config.segmentBytes, 4096);
      assert.equal(await log.endOffset('orders', 1), 101);
      const [first] = await log.read('orders', 1, 0, { maxRecords: 1 });
      assert.equal(first.headers.h.toString(), 'x');
      assert.equal(first.timestamp, 5);
      assert.equal((await log.append('orders', 1, values(1, 'z'))).baseOffset, 101);
      assert.deepEqual(log.recoveryReport.truncatedTails, []);
    });
  });

  it('rolls segments at segmentBytes, seeks through the index, and rebuilds a missing index', async (t) => {
    const dir = tempDir(t);
    await withLog(dir, async (log) => {
      await log.createTopic('roll', { partitions: 1, segmentBytes: 64 * 1024 });
      for (let i = 0; i < 100; i++) await log.append('roll', 0, values(50, `b${i}-`));
      const segments = log.partitionForCleaning('roll', 0).listSegments();
      assert.ok(segments.length >= 5, `${segments.length} segments`);
      assert.equal(segments.at(-1)?.active, true);
      for (let i = 1; i < segments.length; i++)
        assert.equal(segments[i].baseOffset, segments[i - 1].nextOffset);
    });
    assert.ok(segmentFiles(dir, 'roll', 0, '.index').some((f) => statSync(f).size > 0));
    for (const f of segmentFiles(dir, 'roll', 0, '.index')) unlinkSync(f);
    await withLog(dir, async (log) => {
      for (const offset of [0, 1, 777, 2500, 4999]) {
        const [r] = await log.read('roll', 0, offset, { maxRecords: 1 });
        assert.equal(r.offset, offset);
        assert.equal(r.key?.toString(), `b${Math.floor(offset / 50)}-${offset % 50}`);
      }
      assert.equal((await readAll(log, 'roll', 0)).length, 5000);
    });
    assert.ok(segmentFiles(dir, 'roll', 0, '.index').some((f) => statSync(f).size > 0));
  });

  it('cuts a torn tail on open and reports the dropped bytes', async (t) => {
    const dir = tempDir(t);
    await withLog(dir, async (log) => {
      await log.createTopic('torn', { partitions: 1 });
      await log.append('torn', 0, values(10, 'a'));
      await log.append('torn', 0, values(10, 'b'));
    });
    const [file] = segmentFiles(dir, 'torn', 0, '.log');
    const size = statSync(file).size;
    // A crash mid-write: the last batch is cut short, then garbage follows.
    const cutAt = size - 500;
    const fd = openSync(file, 'r+');
    ftruncateSync(fd, cutAt);
    writeSync(fd, Buffer.from('garbage'.repeat(20)), 0, 140, cutAt);
    closeSync(fd);
    await withLog(dir, async (log) => {
      const report = log.recoveryReport.truncatedTails;
      assert.equal(report.length, 1);
      assert.equal(report[0].file, file);
      assert.equal(report[0].topic, 'torn');
      assert.ok(report[0].bytes > 0 && report[0].position < cutAt);
      assert.equal(await log.endOffset('torn', 0), 10);
      assert.equal((await log.append('torn', 0, values(1, 'c'))).baseOffset, 10);
      assert.equal((await readAll(log, 'torn', 0)).length, 11);
    });
  });

  it('cuts a partial batch header at the very end (a write cut after a few bytes)', async (t) => {
    const dir = tempDir(t);
    await withLog(dir, async (log) => {
      await log.createTopic('stub', { partitions: 1 });
      await log.append('stub', 0, values(3, 'a'));
    });
    const [file] = segmentFiles(dir, 'stub', 0, '.log');
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([1, 2, 3, 4, 5]), 0, 5, size);
    closeSync(fd);
    await withLog(dir, async (log) => {
      assert.deepEqual(
        log.recoveryReport.truncatedTails.map((x) => [x.position, x.bytes]),
        [[size, 5]],
      );
      assert.equal(statSync(file).size, size);
      assert.equal((await readAll(log, 'stub', 0)).length, 3);
    });
  });

  it('opens a log damaged before its tail: reads stop at the damage, appends wait for a truncation', async (t) => {
    const dir = tempDir(t);
    await withLog(dir, async (log) => {
      await log.createTopic('bad', { partitions: 1 });
      for (let i = 0; i < 3; i++) await log.append('bad', 0, values(5, `x${i}`));
    });
    const [file] = segmentFiles(dir, 'bad', 0, '.log');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xff, 0xee]), 0, 2, 100);
    closeSync(fd);
    await withLog(dir, async (log) => {
      assert.deepEqual(
        log.recoveries().map((r) => [r.reason, r.fromOffset, r.position]),
        [['corrupt-middle', 0, 0]],
      );
      const named = (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EDDY_CORRUPT_LOG');
        assert.ok(err.message.includes(file) && err.message.includes('byte 0'), err.message);
        return true;
      };
      await assert.rejects(log.read('bad', 0, 0), named);
      await assert.rejects(log.append('bad', 0, values(1, 'y')), named);
      await log.truncate('bad', 0, 0);
      assert.equal((await log.append('bad', 0, values(1, 'y'))).baseOffset, 0);
    });
    await withLog(dir, async (log) => {
      assert.deepEqual(log.recoveries(), []);
      assert.equal((await readAll(log, 'bad', 0)).length, 1);
    });
  });

  it('reports corruption met by a read with CorruptLogError naming the file and byte', async (t) => {
    const dir = tempDir(t);
    await withLog(dir, async (log) => {
      await log.createTopic('bad-read', { partitions: 1 });
      for (let i = 0; i < 50; i++) await log.append('bad-read', 0, values(20, `x${i}`));
    });
    const [file] = segmentFiles(dir, 'bad-read', 0, '.log');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xff]), 0, 1, 5000);
    closeSync(fd);
    await withLog(dir, async (log) => {
      // the good records before the damaged batch first, then the error at it
      const good = await log.read('bad-read', 0, 0, { maxRecords: 1000 });
      assert.ok(good.length > 0 && good.length % 20 === 0);
      await assert.rejects(
        log.read('bad-read', 0, good.length, { maxRecords: 1000 }),
        (err: Error & { code?: string; at?: { offset: number; position: number } }) => {
          assert.equal(err.code, 'EDDY_CORRUPT_LOG');
          assert.match(err.message, /at byte \d+/);
          assert.ok(err.message.includes(file));
          assert.equal(err.at?.offset, good.length);
          assert.ok(err.at!.position <= 5000);
          return true;
        },
      );
    });
  });

  it('keeps a committed transaction and drops an uncommitted one found on open', async (t) => {
    const dir = tempDir(t);
    const copy = tempDir(t);
    await withLog(dir, async (log) => {
      await log.createTopic('tx', { partitions: 2 });
      const committed = await log.beginTransaction();
      await committed.append('tx', 0, values(3, 'c'));
      await committed.commit();
      const open = await log.beginTransaction();
      await open.append('tx', 0, values(4, 'u'));
      await open.append('tx', 1, values(2, 'u'));
      // A crash now: a copy of the directory as it is on disk, with the transaction still open.
      cpSync(dir, copy, { recursive: true });
      await open.abort();
    });
    await withLog(copy, async (log) => {
      assert.deepEqual(
        log.recoveryReport.abortedTransaction.map((p) => [p.topic, p.partition, p.start]),
        [
          ['tx', 0, 3],
          ['tx', 1, 0],
        ],
      );
      assert.equal(await log.endOffset('tx', 0), 3);
      assert.equal(await log.endOffset('tx', 1), 0);
      assert.ok(!existsSync(join(copy, 'transaction.json')));
    });
    await withLog(copy, async (log) => {
      assert.deepEqual(log.recoveryReport.abortedTransaction, []);
      assert.deepEqual(
        (await readAll(log, 'tx', 0)).map((r) => r.key?.toString()),
        ['c0', 'c1', 'c2'],
      );
    });
  });

  it('refuses a second open of the same directory in the same process', async (t) => {
    const dir = tempDir(t);
    await withLog(dir, async () => {
      await assert.rejects(openEmbeddedLog({ dir }), { code: 'EDDY_LOCKED' });
    });
  });

  it('refuses a directory locked by another live process, naming the dir and pid, and takes over a dead one', async (t) => {
    const dir = tempDir(t);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'fixtures/hold-lock.ts'), dir],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    await assert.rejects(openEmbeddedLog({ dir }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EDDY_LOCKED');
      assert.ok(err.message.includes(dir) && err.message.includes(String(child.pid)), err.message);
      return true;
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    assert.ok(existsSync(join(dir, 'LOCK')), 'the dead child left its lock behind');
    await withLog(dir, async (log) => {
      assert.deepEqual(await log.listTopics(), []);
    });
  });
});

describe('a read-only follower of an embedded log another writer holds', () => {
  it('sees topics, appends, rolls, truncations and commits the writer makes after it opened', async (t) => {
    const dir = tempDir(t);
    const writer = await openEmbeddedLog({ dir });
    t.after(() => writer.close());
    const follower = await openEmbeddedLog({ dir, readOnly: true, followPollMs: 10 });
    t.after(() => follower.close());
    assert.deepEqual(await follower.listTopics(), []);
    await writer.createTopic('f', { partitions: 1, segmentBytes: 4096 });
    assert.deepEqual(await follower.listTopics(), ['f']);
    const waiting = follower.waitForData('f', 0, 0, 5000);
    await writer.append('f', 0, values(5, 'a'));
    assert.equal(await waiting, true);
    for (let i = 0; i < 20; i++) await writer.append('f', 0, values(5, `b${i}-`));
    assert.equal(await follower.endOffset('f', 0), 105);
    assert.equal((await readAll(follower, 'f', 0)).length, 105);
    const txn = await writer.beginTransaction();
    await txn.append('f', 0, values(3, 't'));
    assert.equal(await follower.endOffset('f', 0), 105);
    assert.equal(await follower.waitForData('f', 0, 105, 50), false);
    await txn.commit();
    assert.equal(await follower.endOffset('f', 0), 108);
    await writer.truncate('f', 0, 50);
    assert.equal(await follower.endOffset('f', 0), 50);
    assert.equal((await readAll(follower, 'f', 0)).at(-1)?.offset, 49);
    await assert.rejects(follower.append('f', 0, values(1, 'x')), { code: 'EDDY_INVALID_ARGUMENT' });
    await assert.rejects(follower.createTopic('g', { partitions: 1 }), { code: 'EDDY_INVALID_ARGUMENT' });
    await writer.deleteTopic('f');
    await assert.rejects(follower.endOffset('f', 0), { code: 'EDDY_UNKNOWN_TOPIC' });
    await follower.close();
    await writer.close();
  });

  it('ends a polling waitForData with false when the follower closes', async (t) => {
    const dir = tempDir(t);
    const writer = await openEmbeddedLog({ dir });
    t.after(() => writer.close());
    await writer.createTopic('f', { partitions: 1 });
    const follower = await openEmbeddedLog({ dir, readOnly: true });
    const waiting = follower.waitForData('f', 0, 0, 60_000);
    await follower.close();
    assert.equal(await waiting, false);
    await writer.close();
  });
});

// The whole suite again under the other durability policies (fsync on every append; never).
for (const fsync of ['always', 'os'] as const) {
  logSuite({
    name: `embedded (fsync: ${fsync})`,
    open: async () => {
      const { dir, remove } = makeTempDir('eddy-log-');
      removals.push(remove);
      return openEmbeddedLog({ dir, fsync });
    },
    supports: { truncate: true, transactions: true, persistent: true },
  });
}
