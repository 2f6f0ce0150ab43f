/**
 * Compaction under SIGKILL: a child process (fixtures/compaction-crash-child.ts) appends to a
 * compacted topic and compacts it in a loop; the test kills it at a random instant, reopens the log
 * and checks that the latest record of every key is readable and unchanged, that every record read
 * is one that was written (no garbage), and that recovery left no temporary files. Several rounds on
 * the same directory, so later rounds crash over earlier rounds' cleaned segments. Prints its seed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { LogRecord } from '../../src/log/types.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

const CHILD = fileURLToPath(new URL('./fixtures/compaction-crash-child.ts', import.meta.url));
const KEYS = 97;
const ROUNDS = 8;

/** Runs the child until it has appended, then SIGKILLs it after `delayMs` (or after `passes` passes). */
function runAndKill(dir: string, count: number, delayMs: number): Promise<{ end: number; passes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(count)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let end = -1;
    let passes = 0;
    let stderr = '';
    let buffered = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      buffered += d;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('appended ')) {
          end = Number(line.slice(9));
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        } else if (line.startsWith('pass ')) passes = Number(line.slice(5));
        nl = buffered.indexOf('\n');
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' && end >= 0) resolve({ end, passes });
      else reject(new Error(`child exited with ${code ?? signal} before the kill: ${stderr}`));
    });
  });
}

test('compaction survives SIGKILL at random instants: latest values intact, nothing garbage', async (t) => {
  const seed = Number(process.env.EDDY_TEST_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (EDDY_TEST_SEED=${seed} repeats this run)`);
  const random = prng(seed);
  const dir = tempDir(t);
  let completedSwaps = 0;
  let passesSeen = 0;
  let removedLeftovers = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const delay = Math.floor(random() * 400);
    const { end, passes } = await runAndKill(dir, 1500, delay);
    passesSeen += passes;

    const log = await openEmbeddedLog({ dir, fsync: 'commit', cleaner: null });
    completedSwaps += log.recoveryReport.completedSwaps.length;
    removedLeftovers += log.recoveryReport.removedLeftovers.length;
    try {
      const partDir = log.partitionForCleaning('c', 0).dir;
      assert.deepEqual(
        readdirSync(partDir).filter((f) => f.endsWith('.cleaned') || f.endsWith('.tmp') || f === 'swap.json'),
        [],
        `round ${round}: recovery left no temporary files`,
      );
      assert.equal(await log.endOffset('c', 0), end, `round ${round}: every appended offset is still there`);
      const all: LogRecord[] = [];
      let at = await log.earliestOffset('c', 0);
      while (at < end) {
        const batch = await log.read('c', 0, at, { maxRecords: 500 });
        all.push(...batch);
        at = batch[batch.length - 1].offset + 1;
      }
      const last = new Map<string, LogRecord>();
      let prev = -1;
      for (const r of all) {
        assert.ok(r.offset > prev, 'offsets increase');
        prev = r.offset;
        assert.equal(r.key?.toString(), `k${r.offset % KEYS}`, `offset ${r.offset}: its own key`);
        assert.equal(
          r.value?.toString() ?? null,
          r.offset % 13 === 0 ? null : `v${r.offset}`,
          `offset ${r.offset}: its own value`,
        );
        last.set(r.key!.toString(), r);
      }
      for (let k = 0; k < KEYS; k++) {
        let latest = end - 1;
        while (latest % KEYS !== k) latest--;
        const got = last.get(`k${k}`);
        if (latest % 13 === 0) {
          // The latest is a tombstone: the key reads as deleted (tombstone kept, or dropped with every older value).
          assert.ok(
            got === undefined || (got.offset === latest && got.value === null),
            `round ${round}: k${k} deleted`,
          );
        } else {
          assert.equal(got?.offset, latest, `round ${round}: latest k${k} at its offset`);
          assert.equal(got?.value?.toString(), `v${latest}`, `round ${round}: latest k${k} unchanged`);
        }
      }
    } finally {
      await log.close();
    }
  }
  t.diagnostic(
    `${ROUNDS} rounds, ${passesSeen} full passes finished before the kills; recovery completed ${completedSwaps} swap(s) and removed ${removedLeftovers} leftover file(s)`,
  );
});
