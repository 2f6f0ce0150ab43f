/**
 * Inputs and outputs of the Kafka counting-job tests: `produceCounts` appends messages round a key
 * space, each key always to one input partition — murmur2's (as Kafka's default partitioner puts it)
 * or another of the test's choosing (as a producer that names partitions does) — and keeps the model
 * of every key's count; `checkExactlyOnce` reads an output topic read_committed and checks every
 * key's outputs are exactly 1..n for its n messages.
 */
import assert from 'node:assert/strict';
import type { KafkaLog } from '../../src/log/kafka/kafka-log.js';
import type { Log } from '../../src/log/types.js';
import { waitStable } from '../../src/runtime/kafka-group/wait-stable.js';
import { partitionForKey } from '../../src/util/murmur2.js';

/** Where a key's messages go: murmur2 of the key, or partition `keyIndex % partitions`. */
export type Placement = 'murmur2' | 'explicit';

export interface ProduceCounts {
  topic: string;
  partitions: number;
  keys: number;
  placement: Placement;
  /** The messages' indexes: `from` to `from + count - 1`; message i has key `k${i % keys}`. */
  from: number;
  count: number;
  /** Every key's count so far (updated). */
  model: Map<string, number>;
  /** Messages whose value is "bad" (not counted: the job dead-letters them). */
  bad?: (i: number) => boolean;
}

/** The input partition of key `k<index>` under `placement`. */
export function placeKey(key: string, index: number, partitions: number, placement: Placement): number {
  return placement === 'murmur2' ? partitionForKey(Buffer.from(key), partitions) : index % partitions;
}

export async function produceCounts(log: Log, o: ProduceCounts): Promise<void> {
  const batches: { key: Buffer; value: Buffer }[][] = Array.from({ length: o.partitions }, () => []);
  for (let i = o.from; i < o.from + o.count; i++) {
    const index = i % o.keys;
    const key = `k${index}`;
    const bad = o.bad?.(i) ?? false;
    if (!bad) o.model.set(key, (o.model.get(key) ?? 0) + 1);
    batches[placeKey(key, index, o.partitions, o.placement)].push({
      key: Buffer.from(key),
      value: Buffer.from(bad ? 'bad' : '1'),
    });
  }
  await Promise.all(
    batches.map(async (records, p) => {
      for (let i = 0; i < records.length; i += 5000) await log.append(o.topic, p, records.slice(i, i + 5000));
    }),
  );
}

/** Every record of `topic` (read_committed), as its key's list of values, in offset order per partition. */
export async function outputsByKey(log: Log, topic: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const info = await log.describeTopic(topic);
  // A commit resolves once its outcome is decided; its markers follow a few ms later. Read once
  // every transaction open now has ended, or the last commit's records are not visible yet.
  if (typeof (log as Partial<KafkaLog>).highWatermark === 'function') {
    for (const part of info.partitions) await waitStable(log as KafkaLog, topic, part.partition);
  }
  const stable = await log.describeTopic(topic);
  for (const part of stable.partitions) {
    let offset = part.earliestOffset;
    while (offset < part.endOffset) {
      const records = await log.read(topic, part.partition, offset, {
        maxRecords: 10_000,
        maxBytes: 8 << 20,
      });
      if (records.length === 0) break;
      for (const r of records) {
        const key = (r.key as Buffer).toString();
        let list = out.get(key);
        if (!list) out.set(key, (list = []));
        list.push((r.value as Buffer).toString());
      }
      offset = records[records.length - 1].offset + 1;
    }
  }
  return out;
}

/** Every key's output sequence in `topic` must be exactly 1..n for its n messages: no duplicate, no gap. */
export async function checkExactlyOnce(log: Log, topic: string, model: Map<string, number>): Promise<void> {
  const out = await outputsByKey(log, topic);
  const problems: string[] = [];
  for (const [key, n] of model) {
    const seq = (out.get(key) ?? []).map(Number).sort((a, b) => a - b);
    if (seq.length !== n || seq.some((v, i) => v !== i + 1))
      problems.push(`${key}: ${seq.length} outputs for ${n} messages (max ${seq[seq.length - 1]})`);
  }
  for (const key of out.keys()) if (!model.has(key)) problems.push(`${key}: outputs for no message`);
  assert.deepEqual(problems.slice(0, 10), [], `${topic}: ${problems.length} keys differ from the model`);
}
