/**
 * Crash tests of the embedded log: a real child process (fixtures/crash-writer.ts) writes and
 * prints what was acknowledged; the parent SIGKILLs it at random moments, reopens the directory and
 * checks that every acknowledged record is there unchanged, and that every readable record is one
 * the child wrote, in order. The random delays print their seed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';
import { valueFor } from './fixtures/crash-writer.js';
import { readAll } from './log-suite.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/crash-writer.ts');
const seed = Number(process.env.EDDY_CRASH_SEED ?? Date.now() % 100_000);
const random = prng(seed);

/** Runs the writer until a random moment after its first acknowledgement; returns its last ack line. */
async function runAndKill(dir: string, mode: string, fsync: string): Promise<string | undefined> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dir, mode, fsync], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let last: string | undefined;
  let stderr = '';
  let buffered = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const firstAck = new Promise<void>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      if (lines.length > 0) {
        last = lines[lines.length - 1];
        resolve();
      }
    });
  });
  try {
    const ready = await Promise.race([firstAck.then(() => true), exited.then(() => false)]);
    assert.ok(ready, `the writer exited early: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20 + random() * 250));
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  // Lines that arrived before the kill took effect were acknowledged too.
  return last;
}

describe(`the embedded log under SIGKILL (seed ${seed})`, () => {
  for (const fsync of ['commit', 'os']) {
    it(`keeps every flushed record and nothing but written ones (fsync: ${fsync})`, async (t) => {
      const dir = tempDir(t);
      let acked = 0;
      for (let round = 0; round < 3; round++) {
        const last = await runAndKill(dir, 'plain', fsync);
        const m = /^ack (\d+)$/.exec(last ?? '');
        assert.ok(m, `unexpected output ${last}`);
        acked = Math.max(acked, Number(m[1]));
        const log = await openEmbeddedLog({ dir });
        try {
          const end = await log.endOffset('crash', 0);
          assert.ok(end >= acked, `round ${round}: end ${end} < acknowledged ${acked}`);
          const all = await readAll(log, 'crash', 0);
          assert.equal(all.length, end);
          for (let i = 0; i < all.length; i++) {
            const r = all[i];
            if (r.offset !== i || r.key?.toString() !== `k${i}` || r.value?.toString() !== valueFor(i)) {
              assert.fail(
                `round ${round}: record at ${i} is ${r.offset} ${r.key} ${r.value?.subarray(0, 20)}`,
              );
            }
          }
        } finally {
          await log.close();
        }
      }
    });
  }

  it('keeps committed transactions and drops the one cut by the crash', async (t) => {
    const dir = tempDir(t);
    let committed = 0;
    let cut = 0;
    for (let round = 0; round < 4; round++) {
      const last = await runAndKill(dir, 'txn', 'commit');
      const m = /^commit (\d+) (\d+)$/.exec(last ?? '');
      assert.ok(m, `unexpected output ${last}`);
      committed = Math.max(committed, Number(m[1]));
      const log = await openEmbeddedLog({ dir });
      try {
        if (log.recoveryReport.abortedTransaction.length > 0) cut++;
        const end0 = await log.endOffset('txn', 0);
        const end1 = await log.endOffset('txn', 1);
        assert.equal(end0, end1, 'both partitions of every transaction commit or vanish together');
        assert.ok(end0 >= committed, `round ${round}: end ${end0} < committed ${committed}`);
        assert.equal(end0 % 10, 0);
        for (const p of [0, 1]) {
          const all = await readAll(log, 'txn', p);
          assert.equal(all.length, end0);
          for (let i = 0; i < all.length; i++) assert.equal(all[i].value?.toString(), valueFor(i));
        }
      } finally {
        await log.close();
      }
    }
    t.diagnostic(`${cut} of 4 crashes cut an open transaction`);
  });
});
