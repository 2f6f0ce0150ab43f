/**
 * The hook through which the embedded log runs compaction and retention (written separately, see
 * `compactor.ts` and `retention.ts`). The log calls the cleaner for one partition at a time, never
 * for a partition with an open transaction, after a segment roll of that partition and every
 * `cleanupIntervalMs` for every partition: `maybeCompact` for `cleanup: 'compact'` topics,
 * `maybeRetain` for `cleanup: 'delete'` ones. A cleaner works through the partition's cleaner API
 * (`listSegments`, `readSegmentBatches`, `replaceSegments`, and `Segment.createCleaned`); it must never
 * touch the active segment. Errors go to the log's `onCleanerError` (a process warning by default).
 * `signal` is aborted when the log closes: a long pass should stop (the default cleaner's does).
 */
import type { TopicConfig } from '../types.js';
import type { Partition } from './partition.js';

export interface PartitionCleaner {
  /** Compacts the partition of a `cleanup: 'compact'` topic if it is worth it. */
  maybeCompact(
    partition: Partition,
    config: Readonly<TopicConfig>,
    now: number,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Removes segments of a `cleanup: 'delete'` topic beyond `retentionMs` / `retentionBytes`. */
  maybeRetain(partition: Partition, config: Readonly<TopicConfig>, now: number): Promise<void>;
}
