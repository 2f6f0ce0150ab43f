/**
 * `SharedLog`: outside writers (the control socket, POST records) append in transactions while the
 * job commits in its own — on the embedded log, which has one open transaction at a time and
 * refuses a plain append to a partition the open transaction wrote. Through the shared log neither
 * side fails, and every record arrives.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defineJob, type KeyValueStore, serdes } from '../../../src/index.js';
import { appendAll } from '../../../src/log/append-all.js';
import { openEmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import type { AppendRecord } from '../../../src/log/types.js';
import { SharedLog } from '../../../src/runtime/control/shared-log.js';
import { runJob } from '../../../src/runtime/run-job.js';
import { tempDir } from '../../helpers/tmp.js';

function countJob(exactlyOnce: boolean) {
  return defineJob({
    name: `shared-${exactlyOnce ? 'eos' : 'alo'}`,
    inputs: ['in'],
    outputs: ['out'],
    stores: { counts: { key: serdes.string, value: serdes.json<number>() } },
    exactlyOnce,
    commitMs: 5,
    task: () => {
      let counts: KeyValueStore<string, number>;
      return {
        init(ctx) {
          counts = ctx.store<string, number>('counts');
        },
        process(msg, out) {
          const n = (counts.get(msg.key as string) ?? 0) + 1;
          counts.put(msg.key as string, n);
          out.send({ topic: 'out', key: msg.key, value: n });
        },
      };
    },
  });
}

describe('SharedLog', () => {
  for (const exactlyOnce of [true, false]) {
    it(`lets outside transactions take turns with a running ${exactlyOnce ? 'exactly-once' : 'at-least-once'} job's commits`, async (t) => {
      const dir = tempDir(t);
      const raw = await openEmbeddedLog({ dir: join(dir, 'log') });
      t.after(() => raw.close());
      await raw.createTopic('in', { partitions: 2 });
      await raw.createTopic('out', { partitions: 2 });
      const log = new SharedLog(raw);
      const job = countJob(exactlyOnce);
      const stop = new AbortController();
      let started!: () => void;
      const running = new Promise<void>((r) => {
        started = r;
      });
      const done = runJob(job, { log, dataDir: dir, signal: stop.signal, onStarted: () => started() });
      done.catch(() => undefined);
      await running;
      // 40 outside transactions, each writing both partitions of the input AND of the job's output
      const rounds = 40;
      for (let i = 0; i < rounds; i++) {
        const batch = (topic: string): Map<number, AppendRecord[]> =>
          new Map([
            [0, [{ key: Buffer.from(`k${i}`), value: Buffer.from(`{"${topic}":${i}}`) }]],
            [1, [{ key: Buffer.from(`j${i}`), value: Buffer.from(`{"${topic}":${i}}`) }]],
          ]);
        await Promise.all([appendAll(log, 'in', batch('in')), appendAll(log, 'out', batch('out'))]);
        await new Promise((r) => setTimeout(r, 3));
      }
      // the job read all 80 inputs and sent 80 outputs (besides the 80 written from outside)
      const deadline = Date.now() + 20_000;
      let outputs = 0;
      while (Date.now() < deadline) {
        outputs = (await raw.endOffset('out', 0)) + (await raw.endOffset('out', 1));
        if (outputs >= 4 * rounds) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      stop.abort();
      const metrics = await done; // rejects if a commit collided with an outside transaction
      assert.equal(metrics.processed, 2 * rounds);
      assert.equal(outputs, 4 * rounds);
    });
  }
});
