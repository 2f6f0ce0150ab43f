/**
 * The write commands (`produce`, `topics create|delete|compact|truncate`) on a data directory, whether or not a job
 * runs on it: `withLogWriter` opens the embedded log when it is free, and otherwise — another
 * process holds its lock (`eddy run`, `eddy demo --data-dir`) — writes through that process's
 * control socket (runtime/control-server.ts), so the log keeps one writer and the records reach the
 * running job under the same atomicity (one transaction) and durability (the owner's fsync
 * policy) as a local write. Topic descriptions come from a read-only follower of the files.
 */
import { appendAll, type PartitionAppend } from '../log/append-all.js';
import type { CompactionResult } from '../log/embedded/compactor.js';
import type { EmbeddedLog } from '../log/embedded/embedded-log.js';
import { type TruncateOutcome, truncateTopicPartition } from '../log/truncate-topic.js';
import type { AppendRecord, Log, TopicConfigInput, TopicInfo } from '../log/types.js';
import { controlRequest, encodeRecords, type RoutedRecord } from '../runtime/control/index.js';
import { DirLock } from '../util/dir-lock.js';
import { isEddyError } from '../util/errors.js';
import { embeddedLogDir } from './backend.js';
import { type LogTarget, type OpenLogOptions, openCliLog, withLog } from './open-log.js';

/** What the write commands need of the log. */
export interface LogWriter {
  /** Whether the writes go through a running job's control socket. */
  readonly live: boolean;
  describeTopic(name: string): Promise<TopicInfo>;
  createTopic(name: string, config: TopicConfigInput): Promise<TopicInfo>;
  deleteTopic(name: string): Promise<void>;
  /** Appends every partition's records as one unit (nothing written when it fails). */
  appendAll(
    topic: string,
    byPartition: ReadonlyMap<number, readonly AppendRecord[]>,
  ): Promise<Map<number, PartitionAppend>>;
  /** Compacts every partition of a compact-topic now (embedded log). */
  compactTopic(name: string): Promise<CompactionResult[]>;
  /** Checks a truncation and, with `confirm`, does it (embedded log; truncate-topic.ts). */
  truncate(name: string, partition: number, offset: number, confirm: boolean): Promise<TruncateOutcome>;
}

/** The writer of a log this process opened itself. */
function localWriter(log: Log): LogWriter {
  return {
    live: false,
    describeTopic: (name) => log.describeTopic(name),
    createTopic: (name, config) => log.createTopic(name, config),
    deleteTopic: (name) => log.deleteTopic(name),
    appendAll: (topic, byPartition) => appendAll(log, topic, byPartition),
    compactTopic: async (name) => {
      const { compactTopic } = await import('../log/embedded/compactor.js');
      return compactTopic(log as EmbeddedLog, name);
    },
    truncate: (name, partition, offset, confirm) =>
      truncateTopicPartition(log, name, partition, offset, confirm),
  };
}

/**
 * Runs `fn` with a writer for `target`'s log (a `LogTarget`, or a data directory): the log itself,
 * or its running owner's socket. On Kafka, the Kafka log itself.
 */
export async function withLogWriter<T>(
  target: LogTarget | string,
  options: OpenLogOptions,
  fn: (writer: LogWriter) => Promise<T>,
): Promise<T> {
  if (typeof target !== 'string' && target.backend === 'kafka') {
    return withLog(target, options, (log) => fn(localWriter(log)));
  }
  const dataDir = typeof target === 'string' ? target : target.dataDir;
  let log: Awaited<ReturnType<typeof openCliLog>>;
  try {
    log = await openCliLog(dataDir, options);
  } catch (err) {
    if (!isEddyError(err, 'EDDY_LOCKED')) throw err;
    return fn(liveWriter(dataDir));
  }
  try {
    return await fn(localWriter(log));
  } finally {
    await log.close();
  }
}

function liveWriter(dataDir: string): LogWriter {
  const logDir = embeddedLogDir(dataDir);
  const ownerAlive = (): boolean => DirLock.holder(logDir) !== undefined;
  const request = async <T>(header: Record<string, unknown>, payload?: Uint8Array): Promise<T> =>
    (await controlRequest<T>(dataDir, header, payload, { ownerAlive })).result;
  return {
    live: true,
    describeTopic: (name) => withLog(dataDir, { follow: true }, (log) => log.describeTopic(name)),
    createTopic: (name, config) => request<TopicInfo>({ op: 'topics.create', name, config }),
    deleteTopic: async (name) => {
      await request({ op: 'topics.delete', name });
    },
    appendAll: async (topic, byPartition) => {
      const routed: RoutedRecord[] = [];
      for (const [partition, records] of byPartition)
        for (const r of records) routed.push({ ...r, partition });
      const result = await request<{ partitions: (PartitionAppend & { partition: number })[] }>(
        { op: 'append', topic },
        encodeRecords(routed),
      );
      return new Map(result.partitions.map(({ partition, ...r }) => [partition, r]));
    },
    compactTopic: async (name) =>
      (await request<{ partitions: CompactionResult[] }>({ op: 'topics.compact', name })).partitions,
    truncate: (name, partition, offset, confirm) =>
      request<TruncateOutcome>({ op: 'topics.truncate', name, partition, offset, confirm }),
  };
}
