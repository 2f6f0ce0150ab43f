/**
 * What the embedded log does when a writer opens its directory, and the report of it:
 *
 * 1. Leftovers of interrupted topic creations and deletions (`topics/.<name>.creating`,
 *    `.deleted-*`) are removed.
 * 2. Every partition of every topic is opened: an interrupted segment swap is completed (or its
 *    `*.cleaned` files removed), indexes are repaired, and the active segment's torn tail is cut
 *    (damage before the tail is a `CorruptLogError`; see segment.ts).
 * 3. A `transaction.json` left by a transaction that never committed is rolled back: its partitions
 *    are truncated to where the transaction started (see transaction.ts).
 *
 * Each step's findings land in the {@link RecoveryReport} (`log.recoveryReport`), empty after a
 * clean shutdown. What cost or endangers records (tails cut, damage found, transactions rolled back)
 * is also a {@link LogRecovery}, handed to the log's `onRecovery` as it happens (so a cut made before
 * a later step fails is still reported) and kept for `log.recoveries()`; {@link formatRecovery} is
 * the line the command line prints for it.
 */
import { join } from 'node:path';
import type { LogRecovery, TopicConfig } from '../types.js';
import { fsyncDir, readJsonIfExists, unlinkIfExists } from './fs-util.js';
import type { Partition, PartitionRecovery } from './partition.js';
import type { SegmentRecovery } from './segment.js';
import type { TopicStore } from './topics.js';
import { type PendingPartition, TRANSACTION_FILE } from './transaction.js';

/** What opening the log repaired. */
export interface RecoveryReport {
  /** Torn or corrupt tails cut off, one per partition that had one. */
  readonly truncatedTails: readonly (SegmentRecovery & { topic: string; partition: number })[];
  /** Segments damaged before their end (`corrupt-middle`: nothing cut, reads stop there). */
  readonly damaged: readonly (SegmentRecovery & { topic: string; partition: number })[];
  /** The partitions of a transaction that never committed, truncated back to `start`. */
  readonly abortedTransaction: readonly PendingPartition[];
  /** Segment swaps (compaction, retention) completed after a crash. */
  readonly completedSwaps: readonly {
    topic: string;
    partition: number;
    remove: number[];
    add: number | null;
  }[];
  /** Temporary files and directories removed. */
  readonly removedLeftovers: readonly string[];
}

export const EMPTY_RECOVERY_REPORT: RecoveryReport = Object.freeze({
  truncatedTails: [],
  damaged: [],
  abortedTransaction: [],
  completedSwaps: [],
  removedLeftovers: [],
});

/** A topic open in the log: its config and its partitions. */
export interface OpenTopic {
  config: TopicConfig;
  partitions: Partition[];
}

export type OpenPartitionFn = (
  topic: string,
  partition: number,
  config: TopicConfig,
) => { partition: Partition; recovery: PartitionRecovery };

/** The {@link LogRecovery} of a segment's recovery. */
export function segmentLogRecovery(topic: string, partition: number, r: SegmentRecovery): LogRecovery {
  const out: LogRecovery = {
    topic,
    partition,
    reason: r.reason,
    segment: r.file,
    position: r.position,
    fromOffset: r.fromOffset,
    bytes: r.bytes,
  };
  return r.toOffset === undefined ? out : { ...out, toOffset: r.toOffset };
}

/** The line the command line prints for a recovery (on stderr). */
export function formatRecovery(r: LogRecovery): string {
  const where = `topic "${r.topic}" partition ${r.partition}`;
  const records =
    r.toOffset === undefined
      ? `the records from offset ${r.fromOffset} on`
      : r.toOffset - r.fromOffset === 1
        ? `record ${r.fromOffset}`
        : `records ${r.fromOffset}..${r.toOffset - 1} (${r.toOffset - r.fromOffset} records)`;
  const at = `byte ${r.position} of ${r.segment}`;
  switch (r.reason) {
    case 'torn-tail':
      return `recovery cut ${where}: ${records}, ${r.bytes} bytes at ${at}: the last write was cut short (a crash mid-write)`;
    case 'corrupt-tail':
      return `recovery cut ${where}: ${records}, ${r.bytes} bytes at ${at}: the last batch failed its checksum (damaged on disk)`;
    case 'uncommitted-transaction':
      return `recovery rolled back ${where}: ${records}, ${r.bytes} bytes, written by a transaction that never committed (never visible)`;
    case 'corrupt-middle':
      return (
        `${where} is damaged at offset ${r.fromOffset} (${at}, ${r.bytes} bytes up to the end of the file): ` +
        `records before it are readable, reads stop there and appends are refused; to drop offset ${r.fromOffset} ` +
        `and everything after it: eddy topics truncate ${r.topic} --partition ${r.partition} --offset ${r.fromOffset} --yes`
      );
  }
}

/**
 * Steps 1 and 2: opens every topic into `topics`; the pending transaction is only read (step 3 is
 * async). `onRecovery` hears of each cut or damage as it is found.
 */
export function openAndRecoverTopics(
  dir: string,
  store: TopicStore,
  topics: Map<string, OpenTopic>,
  openPartition: OpenPartitionFn,
  onRecovery: (r: LogRecovery) => void,
): RecoveryReport {
  const tails: (SegmentRecovery & { topic: string; partition: number })[] = [];
  const damaged: (SegmentRecovery & { topic: string; partition: number })[] = [];
  const swaps: { topic: string; partition: number; remove: number[]; add: number | null }[] = [];
  const leftovers = store.removeLeftovers();
  try {
    for (const name of store.list()) {
      const config = store.readConfig(name)!;
      const partitions: Partition[] = [];
      topics.set(name, { config, partitions });
      for (let p = 0; p < config.partitions; p++) {
        const { partition, recovery } = openPartition(name, p, config);
        partitions.push(partition);
        for (const r of recovery.segments) {
          (r.reason === 'corrupt-middle' ? damaged : tails).push({ ...r, topic: name, partition: p });
          onRecovery(segmentLogRecovery(name, p, r));
        }
        if (recovery.completedSwap) swaps.push({ ...recovery.completedSwap, topic: name, partition: p });
        leftovers.push(...recovery.removedLeftovers);
      }
    }
  } catch (err) {
    for (const t of topics.values()) for (const p of t.partitions) void p.close();
    topics.clear();
    throw err;
  }
  const pending =
    readJsonIfExists<{ partitions: PendingPartition[] }>(join(dir, TRANSACTION_FILE))?.partitions ?? [];
  return {
    truncatedTails: tails,
    damaged,
    abortedTransaction: pending,
    completedSwaps: swaps,
    removedLeftovers: leftovers,
  };
}

/** Step 3: truncates the partitions of a transaction that never committed, then drops its file. */
export async function rollBackPendingTransaction(
  dir: string,
  durable: boolean,
  pending: readonly PendingPartition[],
  topics: Map<string, OpenTopic>,
  now: number,
  onRecovery: (r: LogRecovery) => void,
): Promise<void> {
  if (pending.length === 0) return;
  const bytesOf = (part: Partition): number => part.listSegments().reduce((n, s) => n + s.size, 0);
  for (const p of pending) {
    const part = topics.get(p.topic)?.partitions[p.partition];
    if (part === undefined || p.start >= part.endOffset) continue;
    const fromOffset = Math.max(p.start, part.earliestOffset);
    const toOffset = part.endOffset;
    const before = bytesOf(part);
    await part.truncate(fromOffset, now);
    if (durable) await part.sync();
    const active = part.listSegments().at(-1)!;
    onRecovery({
      topic: p.topic,
      partition: p.partition,
      reason: 'uncommitted-transaction',
      segment: active.logPath,
      position: active.size,
      fromOffset,
      toOffset,
      bytes: before - bytesOf(part),
    });
  }
  unlinkIfExists(join(dir, TRANSACTION_FILE));
  if (durable) fsyncDir(dir);
}
