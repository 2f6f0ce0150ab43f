/**
 * Topic administration and cluster metadata over the client's `Admin`: create (with Eddy's configs,
 * waiting until every partition has a leader), describe (partitions, replicas, configs, offsets),
 * delete (waiting until the topic is gone), list, and the cached metadata that appends and reads
 * use to find a partition's leader. Broker errors become `TopicExistsError`, `UnknownTopicError`,
 * `UnknownPartitionError` or `KafkaError`.
 */
import { Admin, type ClusterMetadata, ConfigResourceTypes, FetchIsolationLevels } from '@platformatic/kafka';
import { TopicExistsError, UnknownPartitionError, UnknownTopicError } from '../../util/errors.js';
import type { TopicConfig } from '../types.js';
import { hasProtocolError, toEddyError } from './kafka-errors.js';
import type { ResolvedKafkaLogOptions } from './options.js';
import { fromKafkaConfigs, KAFKA_TOPIC_CONFIG_KEYS, toKafkaConfigs } from './topic-configs.js';

/** What reads and appends need to know about a topic. */
export interface TopicMetadata {
  readonly name: string;
  readonly id: string;
  readonly partitions: readonly { leader: number; leaderEpoch: number; replicas: number[]; isr: number[] }[];
  readonly brokers: ClusterMetadata['brokers'];
}

const EARLIEST = -2n;
const LATEST = -1n;
/** How long create and delete wait for the cluster to show the change. */
const SETTLE_MS = 30_000;

function isUnknownTopic(err: unknown): boolean {
  return hasProtocolError(err, 'UNKNOWN_TOPIC_OR_PARTITION') || hasProtocolError(err, 'UNKNOWN_TOPIC_ID');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class TopicAdmin {
  readonly client: Admin;

  constructor(private readonly options: ResolvedKafkaLogOptions) {
    this.client = new Admin({
      clientId: `${options.clientId}-admin`,
      bootstrapBrokers: options.brokers,
      ...options.connection,
      timeout: options.requestTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      retries: options.retries,
      retryDelay: options.retryDelayMs,
      metadataMaxAge: 60_000,
    });
  }

  /** The topic's metadata (cached; `refresh` asks the cluster); `UnknownTopicError` if it does not exist. */
  async metadata(topic: string, refresh = false): Promise<TopicMetadata> {
    let md: ClusterMetadata;
    try {
      md = await this.client.metadata({ topics: [topic], forceUpdate: refresh, autocreateTopics: false });
    } catch (err) {
      // The client answers an unknown topic with a UserError "Unknown topic <name>.".
      if (isUnknownTopic(err) || (err instanceof Error && err.message === `Unknown topic ${topic}.`)) {
        throw new UnknownTopicError(topic);
      }
      throw toEddyError(err, `metadata of topic "${topic}"`);
    }
    const t = md.topics.get(topic);
    if (t === undefined) throw new UnknownTopicError(topic);
    return { name: topic, id: t.id, partitions: t.partitions, brokers: md.brokers };
  }

  /** The metadata of the topic, after checking that `partition` exists (refreshing once if not). */
  async partition(topic: string, partition: number, refresh = false): Promise<TopicMetadata> {
    let md = await this.metadata(topic, refresh);
    if (partition >= 0 && partition < md.partitions.length && md.partitions[partition] !== undefined)
      return md;
    if (partition < 0) throw new UnknownPartitionError(topic, partition, md.partitions.length);
    md = await this.metadata(topic, true);
    if (partition >= md.partitions.length || md.partitions[partition] === undefined) {
      throw new UnknownPartitionError(topic, partition, md.partitions.length);
    }
    return md;
  }

  async create(name: string, config: TopicConfig): Promise<void> {
    try {
      await this.client.createTopics({
        topics: [name],
        partitions: config.partitions,
        replicas: config.replicationFactor,
        configs: toKafkaConfigs(config, this.options.minInsyncReplicas),
      });
    } catch (err) {
      if (hasProtocolError(err, 'TOPIC_ALREADY_EXISTS')) throw new TopicExistsError(name);
      throw toEddyError(
        err,
        `creating topic "${name}" (${config.partitions} partitions, replication factor ${config.replicationFactor})`,
      );
    }
    // Creation is asynchronous in the cluster: wait until every partition has a leader.
    const deadline = Date.now() + SETTLE_MS;
    for (;;) {
      try {
        const md = await this.metadata(name, true);
        if (
          md.partitions.length === config.partitions &&
          md.partitions.every((p) => p !== undefined && p.leader >= 0)
        ) {
          return;
        }
      } catch (err) {
        if (!(err instanceof UnknownTopicError)) throw err;
      }
      if (Date.now() > deadline)
        throw toEddyError(new Error('no leader for every partition'), `creating topic "${name}"`);
      await sleep(100);
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await this.client.deleteTopics({ topics: [name] });
    } catch (err) {
      if (isUnknownTopic(err)) throw new UnknownTopicError(name);
      throw toEddyError(err, `deleting topic "${name}"`);
    }
    const deadline = Date.now() + SETTLE_MS;
    while ((await this.list()).includes(name)) {
      if (Date.now() > deadline) throw toEddyError(new Error('still listed'), `deleting topic "${name}"`);
      await sleep(100);
    }
    this.client.clearMetadata();
  }

  /** Every topic but Kafka's internal ones, sorted. */
  async list(): Promise<string[]> {
    try {
      const topics = await this.client.listTopics({ includeInternals: false });
      return topics.filter((t) => !t.startsWith('__')).sort();
    } catch (err) {
      throw toEddyError(err, 'listing topics');
    }
  }

  /** The topic's settings, from its metadata and its described configs. */
  async config(name: string): Promise<TopicConfig> {
    const md = await this.metadata(name, true);
    let described: Awaited<ReturnType<Admin['describeConfigs']>>;
    try {
      described = await this.client.describeConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: name,
            configurationKeys: KAFKA_TOPIC_CONFIG_KEYS,
          },
        ],
      });
    } catch (err) {
      if (hasProtocolError(err, 'UNKNOWN_TOPIC_OR_PARTITION')) throw new UnknownTopicError(name);
      throw toEddyError(err, `describing the configs of topic "${name}"`);
    }
    const configs = new Map<string, string | null>();
    for (const r of described) for (const c of r.configs) configs.set(c.name, c.value ?? null);
    return fromKafkaConfigs(md.partitions.length, md.partitions[0]?.replicas.length ?? 0, configs);
  }

  /** A Kafka config of the topic as the broker reports it (tests, diagnostics). */
  async rawConfig(name: string, key: string): Promise<string | null | undefined> {
    const described = await this.client.describeConfigs({
      resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: name, configurationKeys: [key] }],
    });
    return described[0]?.configs.find((c) => c.name === key)?.value;
  }

  /**
   * Earliest and end offsets of some partitions: the end is the last stable offset (read_committed:
   * below any open transaction), or with `uncommitted` the high watermark (past open transactions).
   */
  async offsets(
    topic: string,
    partitions: readonly number[],
    uncommitted = false,
  ): Promise<{ earliest: number[]; end: number[] }> {
    const isolationLevel = uncommitted
      ? FetchIsolationLevels.READ_UNCOMMITTED
      : FetchIsolationLevels.READ_COMMITTED;
    const ask = async (timestamp: bigint): Promise<number[]> => {
      const listed = await this.client.listOffsets({
        topics: [
          { name: topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp })) },
        ],
        isolationLevel,
      });
      const out = partitions.map(() => -1);
      for (const t of listed) {
        for (const p of t.partitions) {
          const i = partitions.indexOf(p.partitionIndex);
          if (i >= 0) out[i] = Number(p.offset);
        }
      }
      return out;
    };
    // Leaders move (a broker died): on failure, refresh the metadata and try again.
    for (let attempt = 0; attempt < this.options.retries; attempt++) {
      try {
        const [earliest, end] = await Promise.all([ask(EARLIEST), ask(LATEST)]);
        return { earliest, end };
      } catch (err) {
        if (hasProtocolError(err, 'UNKNOWN_TOPIC_OR_PARTITION')) break;
        this.client.clearMetadata();
        await sleep(this.options.retryDelayMs);
      }
    }
    try {
      const [earliest, end] = await Promise.all([ask(EARLIEST), ask(LATEST)]);
      return { earliest, end };
    } catch (err) {
      if (hasProtocolError(err, 'UNKNOWN_TOPIC_OR_PARTITION')) {
        await this.metadata(topic, true); // UnknownTopicError if the topic went away
      }
      throw toEddyError(err, `listing offsets of ${topic}/${partitions.join(',')}`);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
