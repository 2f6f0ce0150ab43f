/**
 * "Wait until stable" before a worker reads checkpoints on Kafka (what Kafka's `requireStable`
 * offset fetch does for consumer offsets).
 *
 * Every exactly-once commit of every worker writes the job's one checkpoint partition inside its
 * transaction. While any transaction is open there (a worker mid-commit, or a worker SIGKILLed
 * mid-commit whose transaction waits for its timeout or for the worker's restart to fence it), the
 * last stable offset stays below it, and read-committed readers do not see the checkpoints
 * committed after it — including this worker's own latest ones. Reading then would resume tasks
 * from an older checkpoint than their stores: duplicates. So a worker waits until the stable offset
 * has reached the high watermark it saw first: every transaction open at that moment has ended.
 */
import type { KafkaLog } from '../../log/kafka/kafka-log.js';
import { AbortedError } from '../../util/errors.js';

/** Resolves once every transaction open on `topic/partition` at the call has committed or aborted. */
export async function waitStable(
  log: KafkaLog,
  topic: string,
  partition: number,
  signal?: AbortSignal,
): Promise<void> {
  const target = await log.highWatermark(topic, partition);
  for (let delay = 20; ; delay = Math.min(500, delay * 2)) {
    if (signal?.aborted) throw new AbortedError();
    if ((await log.endOffset(topic, partition)) >= target) return;
    await new Promise((r) => setTimeout(r, delay));
  }
}
