/**
 * The embedded log's default {@link PartitionCleaner}: compaction (`compactor.ts`) for
 * `cleanup: 'compact'` topics and retention (`retention.ts`) for `cleanup: 'delete'` ones.
 *
 * `maybeCompact` runs a pass when at least `minCleanableRatio` (default 0.5, as Kafka's
 * `min.cleanable.dirty.ratio`) of the closed segments' bytes are dirty (past the cleaner checkpoint),
 * or when a tombstone kept by the last pass has expired since. `maybeRetain` always applies
 * retention (it is cheap: a look at the segment list).
 */
import type { TopicConfig } from '../types.js';
import type { PartitionCleaner } from './cleaner.js';
import { type CompactionOptions, compactPartition, dirtyRatio, readCleanerCheckpoint } from './compactor.js';
import type { Partition } from './partition.js';
import { applyRetention } from './retention.js';

export interface DefaultCleanerOptions extends Omit<CompactionOptions, 'now' | 'signal'> {
  /** Compact when at least this share of the closed bytes is dirty; default 0.5. */
  minCleanableRatio?: number;
}

/** Creates the default cleaner. */
export function createDefaultCleaner(options: DefaultCleanerOptions = {}): PartitionCleaner {
  const minRatio = options.minCleanableRatio ?? 0.5;
  return {
    async maybeCompact(
      partition: Partition,
      config: Readonly<TopicConfig>,
      now: number,
      signal?: AbortSignal,
    ): Promise<void> {
      const { tombstoneExpiresAt } = readCleanerCheckpoint(partition);
      const tombstonesDue = tombstoneExpiresAt !== null && tombstoneExpiresAt <= now;
      if (!tombstonesDue && dirtyRatio(partition) < minRatio) return;
      await compactPartition(partition, config, { ...options, now, signal });
    },
    async maybeRetain(partition: Partition, config: Readonly<TopicConfig>, now: number): Promise<void> {
      await applyRetention(partition, config, now);
    },
  };
}
