/**
 * Topic names and settings, shared by every backend: one validator that reports every bad key at
 * once (`ConfigError`), defaults from `TOPIC_DEFAULTS`, and the `ensureTopic` compatibility check.
 *
 * Names: 1 to 249 characters of `[A-Za-z0-9._-]`, not starting with a dot (Kafka's rule, minus the
 * leading dot the embedded log keeps for its temporary directories).
 */
import { ConfigError, InvalidArgumentError, TopicMismatchError } from '../util/errors.js';
import { TOPIC_DEFAULTS, type TopicConfig, type TopicConfigInput } from './types.js';

const KEYS = ['partitions', ...Object.keys(TOPIC_DEFAULTS)];
/** The largest `segmentBytes`: segment positions are 32-bit. */
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;

/** Throws `InvalidArgumentError` unless `name` is a valid topic name. */
export function checkTopicName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,248}$/.test(name)) {
    throw new InvalidArgumentError(
      `invalid topic name ${JSON.stringify(name)}: use 1-249 characters of A-Z a-z 0-9 . _ -, not starting with a dot`,
    );
  }
}

function isInt(v: unknown, min: number): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

/** The full config of `input` over the defaults; `ConfigError` lists every problem. */
export function resolveTopicConfig(topic: string, input: TopicConfigInput): TopicConfig {
  const problems: string[] = [];
  if (input === null || typeof input !== 'object') {
    throw new ConfigError(`config of topic "${topic}"`, [
      'the config must be an object with at least `partitions`',
    ]);
  }
  for (const key of Object.keys(input)) {
    if (!KEYS.includes(key)) problems.push(`${key}: unknown setting (known: ${KEYS.join(', ')})`);
  }
  const merged: Record<string, unknown> = { ...TOPIC_DEFAULTS };
  for (const [key, value] of Object.entries(input))
    if (value !== undefined && KEYS.includes(key)) merged[key] = value;
  const c = merged as unknown as TopicConfig;
  if (!isInt(c.partitions, 1))
    problems.push(`partitions: must be an integer >= 1, got ${String(c.partitions)}`);
  if (c.cleanup !== 'delete' && c.cleanup !== 'compact') {
    problems.push(`cleanup: must be "delete" or "compact", got ${JSON.stringify(c.cleanup)}`);
  }
  if (!isInt(c.retentionMs, -1))
    problems.push(`retentionMs: must be an integer >= -1, got ${String(c.retentionMs)}`);
  if (!isInt(c.retentionBytes, -1)) {
    problems.push(`retentionBytes: must be an integer >= -1, got ${String(c.retentionBytes)}`);
  }
  if (!isInt(c.segmentBytes, 1024) || c.segmentBytes > MAX_SEGMENT_BYTES) {
    problems.push(
      `segmentBytes: must be an integer from 1024 to ${MAX_SEGMENT_BYTES}, got ${String(c.segmentBytes)}`,
    );
  }
  if (!isInt(c.deleteRetentionMs, 0)) {
    problems.push(`deleteRetentionMs: must be an integer >= 0, got ${String(c.deleteRetentionMs)}`);
  }
  if (!isInt(c.replicationFactor, 1)) {
    problems.push(`replicationFactor: must be an integer >= 1, got ${String(c.replicationFactor)}`);
  }
  if (!isInt(c.maxRecordBytes, 1) || c.maxRecordBytes > MAX_SEGMENT_BYTES) {
    problems.push(
      `maxRecordBytes: must be an integer from 1 to ${MAX_SEGMENT_BYTES}, got ${String(c.maxRecordBytes)}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(`config of topic "${topic}"`, problems);
  return c;
}

/** `ensureTopic`'s check: an existing topic must have the partition count and cleanup asked for. */
export function checkTopicMatch(topic: string, existing: TopicConfig, wanted: TopicConfigInput): void {
  const problems: string[] = [];
  if (existing.partitions !== wanted.partitions) {
    problems.push(`it has ${existing.partitions} partitions, ${wanted.partitions} were asked for`);
  }
  const cleanup = wanted.cleanup ?? TOPIC_DEFAULTS.cleanup;
  if (existing.cleanup !== cleanup)
    problems.push(`its cleanup is "${existing.cleanup}", "${cleanup}" was asked for`);
  if (problems.length > 0) {
    throw new TopicMismatchError(
      `topic "${topic}" exists but ${problems.join(' and ')}; delete it or change the job's settings`,
    );
  }
}
