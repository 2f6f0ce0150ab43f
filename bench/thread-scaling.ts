/**
 * What the machine itself allows two threads: three kinds of plain JavaScript work, each run on one
 * worker thread and then on two at once (each doing the same amount), and the speed-up of two over
 * one (2 × one's time ÷ two's time; 2.00 is perfect):
 *   - compute: integer arithmetic in registers (no memory traffic);
 *   - random reads: reads at random over a 256 MiB array per thread (cache misses, as a store's
 *     hash lookups over a million keys);
 *   - allocation: small objects and 100-byte Buffers made and dropped (the young generation's work).
 * The runtime benchmark's `--threads 1,2` ratio cannot pass what this prints for the work it is made
 * of: on a 2-core VM whose cores share caches, memory bandwidth or a physical core, random reads and
 * allocation scale less than compute does.
 *
 * Usage: node --import tsx bench/thread-scaling.ts [--rounds N (default 3: medians)]
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { startWorker } from '../src/util/worker-entry.js';
import { median } from './lib/stats.js';

function compute(n: number): number {
  let x = 1;
  for (let i = 0; i < n; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x;
}

function randomReads(n: number): number {
  const a = new Uint32Array((256 * 1024 * 1024) / 4);
  for (let i = 0; i < a.length; i++) a[i] = i;
  let s = 0;
  let j = 1;
  for (let i = 0; i < n; i++) {
    j = (Math.imul(j, 1103515245) + 12345) >>> 0;
    s += a[j % a.length];
  }
  return s;
}

function allocation(n: number): number {
  let keep: { i: number; b: Buffer }[] = [];
  for (let i = 0; i < n; i++) {
    keep.push({ i, b: Buffer.allocUnsafe(100) });
    if (keep.length > 1000) keep = [];
  }
  return keep.length;
}

const KINDS = {
  compute: [compute, 400_000_000],
  'random reads': [randomReads, 30_000_000],
  allocation: [allocation, 5_000_000],
} as const;
type Kind = keyof typeof KINDS;

/** Milliseconds `threads` workers take, each doing `kind`'s work once (timed inside each worker). */
async function run(kind: Kind, threads: number): Promise<number> {
  const times = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number>((resolve, reject) => {
          const w = startWorker(import.meta.url, 'thread-scaling', { workerData: kind });
          w.once('message', (ms: number) => resolve(ms));
          w.once('error', reject);
        }),
    ),
  );
  return Math.max(...times);
}

if (!isMainThread) {
  const [work, n] = KINDS[workerData as Kind];
  const started = performance.now();
  work(n);
  parentPort?.postMessage(performance.now() - started);
} else {
  const at = process.argv.indexOf('--rounds');
  const rounds = at >= 0 ? Number(process.argv[at + 1]) : 3;
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error(`--rounds must be a positive integer, got ${JSON.stringify(process.argv[at + 1])}`);
    process.exit(2);
  }
  console.log(`thread scaling: each kind of work on 1 thread, then on 2 at once; ${rounds} rounds, medians`);
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const speedups: number[] = [];
    const ones: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const one = await run(kind, 1);
      const two = await run(kind, 2);
      ones.push(one);
      speedups.push((2 * one) / two);
    }
    const spread = `${Math.min(...speedups).toFixed(2)}–${Math.max(...speedups).toFixed(2)}`;
    console.log(
      `  ${kind.padEnd(13)} one thread ${median(ones).toFixed(0)} ms, two threads ×${median(speedups).toFixed(2)} (${spread})`,
    );
  }
}
