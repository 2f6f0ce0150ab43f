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
 * clean shutdown.
 */
import { join } from 'node:path';
import type { TopicConfig } from '../types.js';
import { fsyncDir, readJsonIfExists, unlinkIfExists } from './fs-util.js';
import type { Partition, PartitionRecovery } from './partition.js';
import type { TailTruncation } from './segment.js';
import type { TopicStore } from './topics.js';
import { type PendingPartition, TRANSACTION_FILE } from './transaction.js';

/** What opening the log repaired. */
export interface RecoveryReport {
  /** Torn or corrupt tails cut off, one per partition that had one. */
  readonly truncatedTails: readonly (TailTruncation & { topic: string; partition: number })[];
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

/** Steps 1 and 2: opens every topic into `topics`; the pending transaction is only read (step 3 is async). */
export function openAndRecoverTopics(
  dir: string,
  store: TopicStore,
  topics: Map<string, OpenTopic>,
  openPartition: OpenPartitionFn,
): RecoveryReport {
  const tails: (TailTruncation & { topic: string; partition: number })[] = [];
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
        if (recovery.truncatedTail) tails.push({ ...recovery.truncatedTail, topic: name, partition: p });
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
): Promise<void> {
  if (pending.length === 0) return;
  for (const p of pending) {
    const part = topics.get(p.topic)?.partitions[p.partition];
    if (part === undefined || p.start >= part.endOffset) continue;
    await part.truncate(Math.max(p.start, part.earliestOffset), now);
    if (durable) await part.sync();
  }
  unlinkIfExists(join(dir, TRANSACTION_FILE));
  if (durable) fsyncDir(dir);
}
