/**
 * Retention of `cleanup: 'delete'` partitions of the embedded log: whole closed segments are
 * deleted from the oldest on
 * - while the oldest one's newest record (its max timestamp) is older than `now - retentionMs`
 *   (`retentionMs` -1: never by time), and
 * - while the partition (all segments, active included) is larger than `retentionBytes`
 *   (-1: no limit) — so after a pass it may be somewhat smaller than the limit, by less than one
 *   segment.
 * The active segment is never deleted, nor a segment holding an offset of an open transaction, so
 * retention never removes the newest records however old; the earliest offset moves up to the base
 * offset of the oldest segment kept. The deletion is one crash-safe `Partition.replaceSegments`
 * (manifest, then unlinks; completed on open after a crash).
 */
import type { TopicConfig } from '../types.js';
import { cleanableSegments, exclusive } from './compactor.js';
import type { Partition } from './partition.js';

export interface RetentionResult {
  segmentsDeleted: number;
  bytesDeleted: number;
  /** The partition's earliest offset after the pass. */
  earliestOffset: number;
}

/** Deletes the segments beyond the topic's retention (see the file header). */
export function applyRetention(
  partition: Partition,
  config: Pick<TopicConfig, 'retentionMs' | 'retentionBytes'>,
  now: number = Date.now(),
): Promise<RetentionResult> {
  return exclusive(partition, async () => {
    const closed = cleanableSegments(partition);
    let total = 0;
    for (const s of partition.listSegments()) total += s.size;
    const remove: number[] = [];
    let bytesDeleted = 0;
    for (const s of closed) {
      const expired = config.retentionMs >= 0 && s.maxTimestamp < now - config.retentionMs;
      const tooBig = config.retentionBytes >= 0 && total - bytesDeleted > config.retentionBytes;
      if (!expired && !tooBig) break;
      remove.push(s.baseOffset);
      bytesDeleted += s.size;
    }
    if (remove.length > 0) await partition.replaceSegments(remove, null);
    return { segmentsDeleted: remove.length, bytesDeleted, earliestOffset: partition.earliestOffset };
  });
}
