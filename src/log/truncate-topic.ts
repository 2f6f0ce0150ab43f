/**
 * `eddy topics truncate` on any log that can truncate (the embedded log): checks the offset
 * against the partition's range, says what truncating there drops (records, and the damaged bytes
 * of a partition whose recovery found corruption mid-segment), and — only when `confirm` is
 * true — truncates and flushes. Shared by the CLI on a stopped log and by the control socket of a
 * running job, so both check and answer alike.
 */
import { InvalidArgumentError, OffsetOutOfRangeError } from '../util/errors.js';
import type { Log } from './types.js';

export interface TruncateOutcome {
  /** What truncating drops, e.g. `offsets 5..9 (5 records) of topic t partition 0`. */
  readonly what: string;
  /** True when the partition was truncated (`confirm`), false when it was only checked. */
  readonly done: boolean;
}

export async function truncateTopicPartition(
  log: Log,
  name: string,
  partition: number,
  offset: number,
  confirm: boolean,
): Promise<TruncateOutcome> {
  if (log.truncate === undefined) {
    throw new InvalidArgumentError(`the ${log.backend} log cannot truncate topic "${name}"`);
  }
  const earliest = await log.earliestOffset(name, partition); // names the valid partitions
  const end = await log.endOffset(name, partition);
  if (offset < earliest || offset > end) {
    throw new OffsetOutOfRangeError(name, partition, offset, earliest, end);
  }
  const damaged = (log.recoveries?.() ?? []).some(
    (r) => r.reason === 'corrupt-middle' && r.topic === name && r.partition === partition,
  );
  const parts = offset < end ? [`offsets ${offset}..${end - 1} (${end - offset} records)`] : [];
  if (damaged) parts.push('the damaged bytes');
  const what = `${parts.join(' and ') || 'nothing'} of topic ${name} partition ${partition}`;
  if (!confirm) return { what, done: false };
  await log.truncate(name, partition, offset);
  await log.flush();
  return { what, done: true };
}
