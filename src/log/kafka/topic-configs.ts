/**
 * Eddy's `TopicConfig` as Kafka topic configs and back: `cleanup` → `cleanup.policy`, `retentionMs`
 * → `retention.ms`, `retentionBytes` → `retention.bytes`, `segmentBytes` → `segment.bytes`,
 * `deleteRetentionMs` → `delete.retention.ms`, `maxRecordBytes` → `max.message.bytes` (plus
 * {@link KAFKA_BATCH_OVERHEAD}, so the default 1 MiB is Kafka's default 1048588). `replicationFactor` is not a config but the replica
 * count of each partition. A Kafka `cleanup.policy` of `compact,delete` reads back as `compact`.
 */
import type { CleanupPolicy, TopicConfig } from '../types.js';
import { TOPIC_DEFAULTS } from '../types.js';

/** The Kafka config names Eddy sets and reads. */
export const KAFKA_TOPIC_CONFIG_KEYS = [
  'cleanup.policy',
  'retention.ms',
  'retention.bytes',
  'segment.bytes',
  'delete.retention.ms',
  'max.message.bytes',
  'min.insync.replicas',
];

/** What Kafka's `max.message.bytes` counts beyond Eddy's record bytes (its default is 1 MiB + 12). */
export const KAFKA_BATCH_OVERHEAD = 12;

/** The configs of a topic to create. */
export function toKafkaConfigs(
  c: TopicConfig,
  minInsyncReplicas?: number,
): { name: string; value: string }[] {
  const configs = [
    { name: 'cleanup.policy', value: c.cleanup },
    { name: 'retention.ms', value: String(c.retentionMs) },
    { name: 'retention.bytes', value: String(c.retentionBytes) },
    { name: 'segment.bytes', value: String(c.segmentBytes) },
    { name: 'delete.retention.ms', value: String(c.deleteRetentionMs) },
    { name: 'max.message.bytes', value: String(c.maxRecordBytes + KAFKA_BATCH_OVERHEAD) },
  ];
  if (minInsyncReplicas !== undefined)
    configs.push({ name: 'min.insync.replicas', value: String(minInsyncReplicas) });
  return configs;
}

function num(value: string | null | undefined, fallback: number): number {
  if (value === null || value === undefined || value === '') return fallback;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : fallback;
}

/** A topic's `TopicConfig` from its described Kafka configs. */
export function fromKafkaConfigs(
  partitions: number,
  replicationFactor: number,
  configs: ReadonlyMap<string, string | null>,
): TopicConfig {
  const policy = configs.get('cleanup.policy') ?? 'delete';
  const cleanup: CleanupPolicy = policy.split(',').includes('compact') ? 'compact' : 'delete';
  return {
    partitions,
    cleanup,
    retentionMs: num(configs.get('retention.ms'), TOPIC_DEFAULTS.retentionMs),
    retentionBytes: num(configs.get('retention.bytes'), TOPIC_DEFAULTS.retentionBytes),
    segmentBytes: num(configs.get('segment.bytes'), TOPIC_DEFAULTS.segmentBytes),
    deleteRetentionMs: num(configs.get('delete.retention.ms'), TOPIC_DEFAULTS.deleteRetentionMs),
    replicationFactor,
    maxRecordBytes:
      num(configs.get('max.message.bytes'), TOPIC_DEFAULTS.maxRecordBytes + KAFKA_BATCH_OVERHEAD) -
      KAFKA_BATCH_OVERHEAD,
  };
}
