/**
 * Embedded log benchmark, side by side with the machine's limit in the same run:
 *
 * - append: N records of 100-byte values (null keys) in appends of `--batch` records (one record
 *   batch, one write syscall each) to one partition, then one `flush()` (fsync) — next to a raw
 *   sequential `fs.writeSync` of the same number of bytes in the same chunk sizes, then one fsync.
 *   Both also without the final fsync (page cache only). Ratio: log MB/s / raw MB/s (target >= 50%).
 * - read: the whole partition read back sequentially with `read()` (default budgets: 1000 records
 *   or 1 MiB), records/s (target >= 1,000,000/s), cold-ish (just written, in the page cache).
 * - producer: the same records through `Producer.send` (routing + buffering) into 4 partitions.
 *
 * Each scenario runs `--rounds` times, alternating log and raw; the best round is printed.
 * Usage: npm run bench:log -- [--records N] [--batch B] [--rounds R]
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedLog } from '../src/log/embedded/embedded-log.js';
import { Producer } from '../src/log/producer.js';
import type { AppendRecord } from '../src/log/types.js';
import { benchCompaction, formatCompactionBench } from './log-compaction.js';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const N = arg('--records', 1_000_000);
const BATCH = arg('--batch', 1000);
const ROUNDS = arg('--rounds', 3);
const VALUE_SIZE = 100;

const root = mkdtempSync(join(tmpdir(), 'eddy-bench-log-'));
let dirCounter = 0;
const freshDir = (): string => join(root, String(dirCounter++));

/** One batch's records, values varied so nothing is trivially compressible. */
function makeBatch(seed: number): AppendRecord[] {
  const out: AppendRecord[] = [];
  for (let i = 0; i < BATCH; i++) {
    const value = Buffer.allocUnsafe(VALUE_SIZE);
    for (let j = 0; j < VALUE_SIZE; j++) value[j] = (seed + i * 31 + j * 7) & 0xff;
    out.push({ key: null, value });
  }
  return out;
}
const batches = [makeBatch(1), makeBatch(2), makeBatch(3), makeBatch(4)];

interface Rate {
  seconds: number;
  bytes: number;
}

async function appendRun(fsyncAtEnd: boolean): Promise<Rate & { dir: string }> {
  const dir = freshDir();
  const log = await openEmbeddedLog({ dir, fsync: fsyncAtEnd ? 'commit' : 'os' });
  await log.createTopic('bench', { partitions: 1, segmentBytes: 1024 * 1024 * 1024 });
  const start = process.hrtime.bigint();
  for (let i = 0; i < N / BATCH; i++) await log.append('bench', 0, batches[i & 3]);
  await log.flush();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const bytes = log
    .partitionForCleaning('bench', 0)
    .listSegments()
    .reduce((s, x) => s + x.size, 0);
  await log.close();
  return { seconds, bytes, dir };
}

function rawRun(totalBytes: number, fsyncAtEnd: boolean): Rate {
  const chunk = Buffer.alloc(Math.round(totalBytes / (N / BATCH)), 0x5a);
  const path = join(freshDir());
  const fd = openSync(path, 'w');
  const start = process.hrtime.bigint();
  let pos = 0;
  for (let i = 0; i < N / BATCH; i++) {
    writeSync(fd, chunk, 0, chunk.length, pos);
    pos += chunk.length;
  }
  if (fsyncAtEnd) fsyncSync(fd);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  rmSync(path);
  return { seconds, bytes: pos };
}

async function readRun(dir: string, maxRecords: number): Promise<{ seconds: number; records: number }> {
  const log = await openEmbeddedLog({ dir, fsync: 'os' });
  const end = await log.endOffset('bench', 0);
  const start = process.hrtime.bigint();
  let offset = 0;
  let records = 0;
  let checksum = 0;
  while (offset < end) {
    const got = await log.read('bench', 0, offset, { maxRecords, maxBytes: 64 * 1024 * 1024 });
    records += got.length;
    checksum += got[got.length - 1].value![0];
    offset = got[got.length - 1].offset + 1;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await log.close();
  if (checksum < 0) console.log(checksum);
  return { seconds, records };
}

async function producerRun(): Promise<number> {
  const dir = freshDir();
  const log = await openEmbeddedLog({ dir, fsync: 'commit' });
  await log.createTopic('bench', { partitions: 4, segmentBytes: 1024 * 1024 * 1024 });
  const producer = new Producer(log);
  const start = process.hrtime.bigint();
  for (let i = 0; i < N / BATCH; i++) {
    const batch = batches[i & 3];
    for (let j = 0; j < batch.length; j++) producer.send('bench', { key: null, value: batch[j].value });
    if (i % 100 === 99) await producer.flush();
  }
  await producer.flush();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  return N / seconds;
}

const mb = (r: Rate): number => r.bytes / r.seconds / 1e6;
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const best = <T>(xs: T[], key: (x: T) => number): T => xs.reduce((a, x) => (key(x) > key(a) ? x : a));

/** A scenario prints its own lines. */
const SCENARIOS: [string, () => Promise<void>][] = [
  [
    'append vs raw sequential write',
    async () => {
      for (const fsyncAtEnd of [true, false]) {
        const logRuns: (Rate & { dir: string })[] = [];
        const rawRuns: Rate[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          const run = await appendRun(fsyncAtEnd);
          logRuns.push(run);
          rawRuns.push(rawRun(run.bytes, fsyncAtEnd));
        }
        const l = best(logRuns, mb);
        const w = best(rawRuns, mb);
        const label = fsyncAtEnd ? 'with fsync at end' : 'page cache only  ';
        console.log(
          `  ${label}  log append ${fmt(N / l.seconds)} rec/s ${fmt(mb(l), 1)} MB/s | raw write ${fmt(mb(w), 1)} MB/s | ratio ${fmt((100 * mb(l)) / mb(w), 1)}%`,
        );
        for (const run of logRuns.slice(1)) rmSync(run.dir, { recursive: true, force: true });
        readDir = logRuns[0].dir;
      }
    },
  ],
  [
    'sequential read',
    async () => {
      for (const maxRecords of [1000, 10_000]) {
        const runs = [];
        for (let r = 0; r < ROUNDS; r++) runs.push(await readRun(readDir, maxRecords));
        const x = best(runs, (y) => y.records / y.seconds);
        const rate = x.records / x.seconds;
        console.log(
          `  maxRecords ${String(maxRecords).padEnd(6)} ${fmt(rate)} rec/s (${fmt((rate * VALUE_SIZE) / 1e6, 1)} MB/s of values) | target 1,000,000 rec/s: ${fmt((100 * rate) / 1e6, 0)}%`,
        );
      }
    },
  ],
  [
    'compaction (one full pass, N/10 distinct keys, 8 MiB segments, fsync commit)',
    async () => {
      const runs = [];
      for (let r = 0; r < ROUNDS; r++) runs.push(await benchCompaction({ records: N }));
      console.log(formatCompactionBench(best(runs, (x) => x.recordsPerSecond)));
    },
  ],
  [
    'producer (null keys, 4 partitions, flush every 100k)',
    async () => {
      const runs = [];
      for (let r = 0; r < ROUNDS; r++) runs.push(await producerRun());
      console.log(`  ${fmt(Math.max(...runs))} rec/s`);
    },
  ],
];

let readDir = '';
try {
  console.log(`eddy log bench: ${fmt(N)} records of ${VALUE_SIZE} B, ${BATCH} per append, best of ${ROUNDS}`);
  for (const [name, run] of SCENARIOS) {
    console.log(name);
    await run();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
