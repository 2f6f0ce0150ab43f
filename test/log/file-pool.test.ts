/**
 * File descriptors of the embedded log are a bounded resource (file-pool.ts): segment files open on
 * demand and the least recently used close beyond the pool's cap, so many partitions never exhaust
 * `ulimit -n`; a topic whose creation fails leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { FilePool, type PooledFile } from '../../src/log/embedded/file-pool.js';
import { tempDir } from '../helpers/tmp.js';
import { readAll } from './log-suite.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(root, 'bin/eddy.js');

/** A temp dir on tmpfs when there is one: thousands of files there measure the log, not the disk. */
function fastTempDir(t: { after(fn: () => void): void }): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'eddy-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `argv` (a node command) in bash under `ulimit -n 1024`; the first stdout line is the limit. */
function underUlimit(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    'bash',
    ['-c', 'ulimit -n 1024 && ulimit -n && exec "$@"', 'bash', process.execPath, ...argv],
    {
      cwd: root,
      env: { ...process.env, EDDY_FROM_SOURCE: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  assert.equal(r.stdout.split('\n')[0], '1024', 'the child ran under ulimit -n 1024');
  return { status: r.status, stdout: r.stdout.split('\n').slice(1).join('\n'), stderr: r.stderr };
}

describe('file descriptors of the embedded log', () => {
  it('holds at most the pool cap open over many partitions, through appends, fsyncs, reads and reopen', async (t) => {
    const dir = fastTempDir(t); // fsync commit: 400 fdatasyncs, instant on tmpfs
    const pool = new FilePool(8);
    const value = (p: number, i: number) => Buffer.from(`p${p}-r${i}-`.padEnd(100, '.'));
    let log = await openEmbeddedLog({ dir, fsync: 'commit', filePool: pool });
    await log.createTopic('many', { partitions: 50, segmentBytes: 1024 });
    for (let round = 0; round < 4; round++) {
      for (let p = 0; p < 50; p++) {
        const batch = Array.from({ length: 10 }, (_, i) => ({ key: null, value: value(p, round * 10 + i) }));
        await log.append('many', p, batch);
        assert.ok(pool.size <= 8, `${pool.size} open`);
      }
      await log.flush(); // fdatasyncs pin their descriptor while they run
      assert.ok(pool.size <= 8, `${pool.size} open after a flush`);
    }
    await log.close();
    assert.equal(pool.size, 0, 'close releases every descriptor');
    log = await openEmbeddedLog({ dir, filePool: pool });
    try {
      for (let p = 0; p < 50; p++) {
        const got = (await readAll(log, 'many', p)).map((r) => r.value!.toString());
        assert.deepEqual(
          got,
          Array.from({ length: 40 }, (_, i) => value(p, i).toString()),
        );
        assert.ok(pool.size <= 8);
      }
      assert.ok(pool.evictions > 50, `descriptors were closed and reopened (${pool.evictions} evictions)`);
      assert.ok(readdirSync(join(dir, 'topics', 'many', '0')).filter((f) => f.endsWith('.log')).length > 1);
    } finally {
      await log.close();
    }
  });

  it('leaves nothing behind when creating a topic fails halfway, and the directory stays usable', async (t) => {
    const dir = tempDir(t);
    class FailingPool extends FilePool {
      created = 0;
      override create(path: string): PooledFile {
        if (++this.created > 5)
          throw Object.assign(new Error(`EMFILE: too many open files, open '${path}'`), { code: 'EMFILE' });
        return super.create(path);
      }
    }
    const pool = new FailingPool();
    const log = await openEmbeddedLog({ dir, filePool: pool });
    try {
      await log.createTopic('ok', { partitions: 2 });
      await assert.rejects(log.createTopic('big', { partitions: 10 }), /EMFILE/);
      assert.deepEqual(await log.listTopics(), ['ok']);
      assert.deepEqual(readdirSync(join(dir, 'topics')), ['ok']);
      assert.equal(pool.size, 2, 'the partitions opened before the failure were closed');
    } finally {
      await log.close();
    }
    const again = await openEmbeddedLog({ dir });
    try {
      assert.deepEqual(await again.listTopics(), ['ok']);
      await again.createTopic('big', { partitions: 10 });
      await again.deleteTopic('big');
    } finally {
      await again.close();
    }
  });

  it('10,000 partitions in one directory work under ulimit -n 1024', (t) => {
    const dir = fastTempDir(t);
    const r = underUlimit(['--import', 'tsx', 'test/log/fixtures/many-partitions.ts', dir, '10000']);
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout);
    assert.equal(seen.readBack, 10_000);
    assert.deepEqual(seen.topicsAfterDelete, []);
    assert.ok(seen.openAfterReopen <= 256, `${seen.openAfterReopen} descriptors open`);
  });

  it('eddy topics create --partitions 600, describe and delete work under ulimit -n 1024', (t) => {
    const dir = fastTempDir(t);
    const eddy = (...args: string[]) => underUlimit([BIN, ...args, '--data-dir', dir]);
    const created = eddy('topics', 'create', 'big', '--partitions', '600');
    assert.equal(created.status, 0, created.stderr);
    assert.equal(created.stderr, '');
    const described = eddy('topics', 'describe', 'big');
    assert.equal(described.status, 0, described.stderr);
    assert.match(described.stdout, /^\s+599\s+0\s+0$/m);
    const deleted = eddy('topics', 'delete', 'big');
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.equal(eddy('topics', 'list').stdout, '');
  });
});
