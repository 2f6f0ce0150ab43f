/**
 * Compaction throughput of the embedded log: N records (default 1,000,000) of 100-byte values over
 * N/10 distinct keys, in segments of 8 MiB, then one full compaction pass (`compactPartition`) timed:
 * records/s and MB/s of input, and what it kept. Exported for `bench/log.ts`; also runs alone:
 *
 *   node --import tsx bench/log-compaction.ts [--records N] [--keys K]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { compactPartition } from '../src/log/embedded/compactor.js';
import { openEmbeddedLog } from '../src/log/embedded/embedded-log.js';
import type { AppendRecord } from '../src/log/types.js';

export interface CompactionBenchOptions {
  records?: number;
  distinctKeys?: number;
  valueSize?: number;
  segmentBytes?: number;
}

export interface CompactionBenchResult {
  records: number;
  distinctKeys: number;
  seconds: number;
  recordsPerSecond: number;
  megabytesPerSecond: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsKept: number;
}

/** Fills a compacted topic and times one compaction pass over its closed segments. */
export async function benchCompaction(options: CompactionBenchOptions = {}): Promise<CompactionBenchResult> {
  const records = options.records ?? 1_000_000;
  const distinctKeys = options.distinctKeys ?? Math.max(1, Math.floor(records / 10));
  const valueSize = options.valueSize ?? 100;
  const segmentBytes = options.segmentBytes ?? 8 * 1024 * 1024;
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-compaction-'));
  const log = await openEmbeddedLog({ dir, fsync: 'commit', cleaner: null });
  try {
    const config = { partitions: 1, cleanup: 'compact' as const, segmentBytes, deleteRetentionMs: 0 };
    await log.createTopic('c', config);
    const value = Buffer.alloc(valueSize, 'x');
    const batch: AppendRecord[] = [];
    for (let i = 0; i < records; i++) {
      const k = (i * 7919) % distinctKeys; // every key recurs, spread over the whole log
      batch.push({ key: Buffer.from(`key-${String(k).padStart(9, '0')}`), value });
      if (batch.length === 1000 || i === records - 1) {
        await log.append('c', 0, batch);
        batch.length = 0;
      }
    }
    const part = log.partitionForCleaning('c', 0);
    part.roll(); // close the last segment so the whole log is cleanable
    await log.flush();
    const start = process.hrtime.bigint();
    const r = await compactPartition(part, config, { now: Date.now() });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return {
      records: r.recordsRead,
      distinctKeys,
      seconds,
      recordsPerSecond: r.recordsRead / seconds,
      megabytesPerSecond: r.bytesBefore / seconds / 1e6,
      bytesBefore: r.bytesBefore,
      bytesAfter: r.bytesAfter,
      recordsKept: r.recordsKept,
    };
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One line for the log benchmark's output. */
export function formatCompactionBench(r: CompactionBenchResult): string {
  const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d });
  return (
    `  ${fmt(r.records)} records, ${fmt(r.distinctKeys)} keys: ${fmt(r.recordsPerSecond)} rec/s, ` +
    `${fmt(r.megabytesPerSecond, 1)} MB/s (${fmt(r.seconds, 2)} s); ${fmt(r.bytesBefore / 1e6, 1)} MB -> ` +
    `${fmt(r.bytesAfter / 1e6, 1)} MB, ${fmt(r.recordsKept)} records kept`
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { records: { type: 'string' }, keys: { type: 'string' } } });
  const result = await benchCompaction({
    records: values.records === undefined ? undefined : Number(values.records),
    distinctKeys: values.keys === undefined ? undefined : Number(values.keys),
  });
  console.log('compaction (one full pass, fsync commit)');
  console.log(formatCompactionBench(result));
}
