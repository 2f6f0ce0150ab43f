/**
 * Read-only followers of an embedded log another process writes (`readOnly: true`): before each
 * call the follower looks at the disk again — which topics exist (new ones opened, deleted ones
 * dropped), each partition's segments (see `Partition.refresh`), and the writer's open transaction
 * (`transaction.json`), whose records must stay invisible until it commits. Polling for new data
 * is `follow-poll.ts`.
 */
import { join } from 'node:path';
import { readJsonIfExists } from './fs-util.js';
import type { OpenPartitionFn, OpenTopic } from './recovery.js';
import type { TopicStore } from './topics.js';
import { type PendingPartition, TRANSACTION_FILE } from './transaction.js';

function openFromDisk(
  store: TopicStore,
  topics: Map<string, OpenTopic>,
  name: string,
  openPartition: OpenPartitionFn,
): OpenTopic | undefined {
  const config = store.readConfig(name);
  if (config === undefined) return undefined;
  const t: OpenTopic = { config, partitions: [] };
  for (let p = 0; p < config.partitions; p++) t.partitions.push(openPartition(name, p, config).partition);
  topics.set(name, t);
  return t;
}

function drop(topics: Map<string, OpenTopic>, name: string): void {
  const t = topics.get(name);
  topics.delete(name);
  for (const p of t?.partitions ?? []) void p.close();
}

/** Makes `topics` match the topics on disk. */
export function refreshTopics(
  store: TopicStore,
  topics: Map<string, OpenTopic>,
  openPartition: OpenPartitionFn,
): void {
  const names = new Set(store.list());
  for (const name of [...topics.keys()]) if (!names.has(name)) drop(topics, name);
  for (const name of names) if (!topics.has(name)) openFromDisk(store, topics, name, openPartition);
}

/** The topic `name` as it is on disk now, or undefined when it does not exist. */
export function refreshTopic(
  store: TopicStore,
  topics: Map<string, OpenTopic>,
  name: string,
  openPartition: OpenPartitionFn,
): OpenTopic | undefined {
  const t = topics.get(name);
  if (store.readConfig(name) === undefined) {
    if (t !== undefined) drop(topics, name);
    return undefined;
  }
  return t ?? openFromDisk(store, topics, name, openPartition);
}

/** Sets every partition's visibility limit from the writer's open transaction, if any. */
export function refreshTransactionLimits(dir: string, topics: Map<string, OpenTopic>): void {
  const pending = readJsonIfExists<{ partitions: PendingPartition[] }>(join(dir, TRANSACTION_FILE));
  for (const t of topics.values()) for (const p of t.partitions) p.txnStart = null;
  for (const p of pending?.partitions ?? []) {
    const part = topics.get(p.topic)?.partitions[p.partition];
    if (part !== undefined) part.txnStart = p.start;
  }
}
