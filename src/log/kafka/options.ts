/**
 * Options of the Kafka log: one typed descriptor, one `defaults` object, one validator that reports
 * every bad key at once (`ConfigError`).
 */
import { ConfigError } from '../../util/errors.js';

export interface KafkaLogOptions {
  /** Bootstrap servers, `host:port` each; at least one. */
  brokers: string[];
  /** The client id the brokers see (logs, quotas); default `eddy`. */
  clientId?: string;
  /** Replicas per partition for topics created without `replicationFactor`; default 1. */
  replicationFactor?: number;
  /**
   * `min.insync.replicas` set on every topic this log creates; default: the broker's setting. With
   * acks=all an append then succeeds only while this many replicas have it.
   */
  minInsyncReplicas?: number;
  /**
   * The transactional id of `beginTransaction()` without an `id`; default `<clientId>-tx`. Give each
   * writer (each task, for exactly-once) its own stable id, e.g. `<job>-task-<p>`: a new producer
   * with the same id fences the old one (its next transactional call fails with `FencedError`) and
   * aborts the old one's open transaction.
   */
  transactionalId?: string;
  /** Timeout of one request (produce, admin, …) in ms; default 30 000. */
  requestTimeoutMs?: number;
  /** Timeout of a TCP connect in ms; default 5 000. */
  connectTimeoutMs?: number;
  /** How often a retriable failure is retried; default 5. */
  retries?: number;
  /** Delay between retries in ms; default 250. */
  retryDelayMs?: number;
  /** Longest single long-poll fetch of `waitForData` in ms (it loops until its timeout); default 5 000. */
  maxWaitMs?: number;
}

export type ResolvedKafkaLogOptions = Required<Omit<KafkaLogOptions, 'minInsyncReplicas'>> &
  Pick<KafkaLogOptions, 'minInsyncReplicas'>;

export const KAFKA_LOG_DEFAULTS = {
  clientId: 'eddy',
  replicationFactor: 1,
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  retries: 5,
  retryDelayMs: 250,
  maxWaitMs: 5_000,
} as const;

const KEYS = ['brokers', 'minInsyncReplicas', 'transactionalId', ...Object.keys(KAFKA_LOG_DEFAULTS)];

function isInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

/** The options over the defaults; `ConfigError` lists every problem. */
export function resolveKafkaLogOptions(options: KafkaLogOptions): ResolvedKafkaLogOptions {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('Kafka log options', ['the options must be an object with at least `brokers`']);
  }
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if (!KEYS.includes(key)) problems.push(`${key}: unknown option (known: ${KEYS.join(', ')})`);
  }
  const o = { ...KAFKA_LOG_DEFAULTS, ...stripUndefined(options) } as ResolvedKafkaLogOptions;
  if (!Array.isArray(o.brokers) || o.brokers.length === 0) {
    problems.push('brokers: must be a non-empty array of "host:port" strings');
  } else {
    for (const b of o.brokers) {
      if (typeof b !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(b)) {
        problems.push(`brokers: ${JSON.stringify(b)} is not "host:port"`);
      }
    }
  }
  if (typeof o.clientId !== 'string' || o.clientId.length === 0)
    problems.push('clientId: must be a non-empty string');
  if (!isInt(o.replicationFactor, 1))
    problems.push(`replicationFactor: must be an integer >= 1, got ${o.replicationFactor}`);
  if (o.minInsyncReplicas !== undefined && !isInt(o.minInsyncReplicas, 1)) {
    problems.push(`minInsyncReplicas: must be an integer >= 1, got ${o.minInsyncReplicas}`);
  }
  if (
    options.transactionalId !== undefined &&
    (typeof o.transactionalId !== 'string' || o.transactionalId === '')
  ) {
    problems.push('transactionalId: must be a non-empty string');
  }
  for (const key of ['requestTimeoutMs', 'connectTimeoutMs', 'maxWaitMs'] as const) {
    if (!isInt(o[key], 1)) problems.push(`${key}: must be an integer >= 1, got ${o[key]}`);
  }
  if (!isInt(o.retries, 0)) problems.push(`retries: must be an integer >= 0, got ${o.retries}`);
  if (!isInt(o.retryDelayMs, 0))
    problems.push(`retryDelayMs: must be an integer >= 0, got ${o.retryDelayMs}`);
  if (isInt(o.maxWaitMs, 1) && isInt(o.requestTimeoutMs, 1) && o.maxWaitMs >= o.requestTimeoutMs) {
    problems.push(`maxWaitMs (${o.maxWaitMs}) must be below requestTimeoutMs (${o.requestTimeoutMs})`);
  }
  if (problems.length > 0) throw new ConfigError('Kafka log options', problems);
  o.transactionalId = options.transactionalId ?? `${o.clientId}-tx`;
  o.brokers = [...o.brokers];
  return o;
}

function stripUndefined(o: object): object {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
