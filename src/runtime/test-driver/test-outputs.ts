/**
 * The test driver's `MessageCollector`: what the container's `OutputCollector` does to a sent
 * message — encode with the output's serdes, route (explicit partition, else murmur2 over the
 * encoded key, else round-robin), refuse undeclared topics with `JobError` — except that records
 * are kept in memory at once, with offsets per partition, instead of buffered until a commit.
 * Dead letters are appended raw (`appendRaw`) and read back as bytes.
 */
import { InvalidArgumentError, JobError } from '../../util/errors.js';
import type { Codec, JobDefinition } from '../job.js';
import { encodeMessage } from '../output-collector.js';
import type { OutgoingMessage } from '../task.js';
import type { TaskOutputs } from '../task-instance.js';
import type { TestOutput, TestRecord } from './test-driver-types.js';

interface OutputTopic {
  readonly key: Codec<unknown>;
  readonly value: Codec<unknown>;
  /** Dead letters: appended raw, never decoded, not a target of `send`. */
  readonly raw: boolean;
  readonly records: TestRecord[];
  readonly nextOffset: number[];
}

export class TestOutputs implements TaskOutputs {
  /** Messages appended since the driver started (dead letters included). */
  sent = 0;
  private readonly topics = new Map<string, OutputTopic>();
  roundRobin = 0;

  constructor(
    private readonly job: JobDefinition,
    /** Partitions of every output topic. */
    readonly partitions: number,
    deadLetterTopic: string,
    private readonly now: () => number,
  ) {
    for (const output of job.outputs) this.addTopic(output.topic, output.key, output.value, false);
    const bytes: Codec<unknown> = { encode: (v) => v as Uint8Array, decode: (b) => Buffer.from(b) };
    this.addTopic(deadLetterTopic, bytes, bytes, true);
  }

  send<K = unknown, V = unknown>(message: OutgoingMessage<K, V>): void {
    const out = this.topics.get(message.topic);
    if (!out || out.raw) {
      throw new JobError(
        `message sent to "${message.topic}", which is not among the job's outputs (${this.job.outputs.map((o) => o.topic).join(', ')}); add it to outputs`,
      );
    }
    const { key, value, partition } = encodeMessage(
      message,
      { topic: message.topic, partitions: this.partitions, key: out.key, value: out.value },
      this,
    );
    this.appendRaw(message.topic, partition, {
      key,
      value,
      timestamp: message.timestamp ?? this.now(),
      headers: message.headers ?? {},
    });
  }

  /** Every topic of the driver has the driver's partition count. */
  partitionsOf(topic: string): number | undefined {
    return this.topics.has(topic) ? this.partitions : undefined;
  }

  /** Appends an encoded record (dead letters use it). */
  appendRaw(topic: string, partition: number, r: Omit<TestRecord, 'partition' | 'offset'>): void {
    const out = this.topic(topic);
    out.records.push({ ...r, partition, offset: out.nextOffset[partition]++ });
    this.sent++;
  }

  /** The messages of `topic` so far, decoded (raw topics: bytes), in send order. */
  decoded<K, V>(topic: string): TestOutput<K, V>[] {
    const out = this.topic(topic);
    return out.records.map((r) => {
      const o: TestOutput<K, V> = {
        key: (r.key === null ? null : out.raw ? r.key : out.key.decode(r.key)) as K | null,
        value: (r.value === null ? null : out.raw ? r.value : out.value.decode(r.value)) as V | null,
        partition: r.partition,
      };
      if (Object.keys(r.headers).length > 0) o.headers = { ...r.headers };
      return o;
    });
  }

  records(topic: string): readonly TestRecord[] {
    return [...this.topic(topic).records];
  }

  clear(): void {
    for (const out of this.topics.values()) out.records.length = 0;
  }

  private addTopic(topic: string, key: Codec<unknown>, value: Codec<unknown>, raw: boolean): void {
    this.topics.set(topic, { key, value, raw, records: [], nextOffset: new Array(this.partitions).fill(0) });
  }

  private topic(topic: string): OutputTopic {
    const out = this.topics.get(topic);
    if (!out) {
      throw new InvalidArgumentError(
        `"${topic}" is not an output of job "${this.job.name}" (outputs: ${[...this.topics.keys()].join(', ')})`,
      );
    }
    return out;
  }
}
