/**
 * The `MessageCollector` of a container: encodes each message with its output's serdes, routes it
 * (explicit partition, else Kafka's murmur2 over the encoded key, else round-robin), and buffers it
 * per partition (a `RecordBuffer`: encoded at `send` on the embedded log) until it is flushed: by
 * the container's linger (at-least-once: when the loop runs out of input, or `lingerMs` after the
 * oldest buffered message; in the background, one append at a time, while the loop goes on) or by
 * the next commit — inside the commit's log transaction when the job is exactly-once. The buffer is
 * bounded: past `maxBuffered` messages the collector asks for an early commit, so a burst never
 * grows memory without limit.
 */
import { appendBuffered, RecordBuffer } from '../log/record-buffer.js';
import type { AppendRecord, Log, LogTransaction } from '../log/types.js';
import { JobError } from '../util/errors.js';
import { partitionForKey } from '../util/murmur2.js';
import type { Codec } from './job.js';
import type { OutgoingMessage } from './task.js';
import type { TaskOutputs } from './task-instance.js';

export interface OutputTopic {
  readonly topic: string;
  readonly partitions: number;
  readonly key: Codec<unknown>;
  readonly value: Codec<unknown>;
}

/**
 * `message` encoded with `out`'s serdes and routed: its explicit partition (checked), else Kafka's
 * murmur2 over the encoded key, else round-robin (`rr.roundRobin` counts). The bytes are the codecs'
 * own (a codec may reuse its buffer): copy them before the next encode.
 */
export function routeMessage(
  message: OutgoingMessage<unknown, unknown>,
  out: OutputTopic,
  rr: { roundRobin: number },
): { key: Uint8Array | null; value: Uint8Array | null; partition: number } {
  const key = message.key === undefined || message.key === null ? null : out.key.encode(message.key);
  const value = message.value === null ? null : out.value.encode(message.value);
  let partition = message.partition;
  if (partition === undefined) {
    partition = key !== null ? partitionForKey(key, out.partitions) : rr.roundRobin++ % out.partitions;
  } else if (!Number.isInteger(partition) || partition < 0 || partition >= out.partitions) {
    throw new JobError(
      `partition ${partition} does not exist in output "${out.topic}" (0..${out.partitions - 1})`,
    );
  }
  return { key, value, partition };
}

/** `routeMessage` with the key and value copied into Buffers of their own (the test driver keeps them). */
export function encodeMessage(
  message: OutgoingMessage<unknown, unknown>,
  out: OutputTopic,
  rr: { roundRobin: number },
): { key: Buffer | null; value: Buffer | null; partition: number } {
  const { key, value, partition } = routeMessage(message, out, rr);
  return {
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.from(value),
    partition,
  };
}

/**
 * An output topic and its per-partition buffers, indexed by partition (no routing string per
 * message); `spares` holds each partition's emptied buffer for reuse once its append is done.
 */
interface OutputState {
  readonly spec: OutputTopic;
  readonly buffers: (RecordBuffer | undefined)[];
  readonly spares: (RecordBuffer | undefined)[];
}

export class OutputCollector implements TaskOutputs {
  private readonly topics = new Map<string, OutputState>();
  private buffered = 0;
  /** `performance.now()` when the oldest buffered message was sent (meaningful while `pending > 0`). */
  private firstAt = 0;
  roundRobin = 0;
  /** The background append in flight (`flushInBackground`). */
  private inflight: Promise<void> | undefined;
  /** The failure of a background append: the collector takes no more appends. */
  private failed: { error: unknown } | undefined;
  /** Messages sent since the container started. */
  sent = 0;

  constructor(
    private readonly log: Log,
    outputs: Iterable<OutputTopic>,
    private readonly maxBuffered: number,
    private readonly onFull: () => void,
  ) {
    for (const o of outputs) this.topics.set(o.topic, { spec: o, buffers: [], spares: [] });
    this.encode = log.appendBuffer !== undefined;
  }

  private readonly encode: boolean;

  send<K = unknown, V = unknown>(message: OutgoingMessage<K, V>): void {
    const state = this.topics.get(message.topic);
    if (!state) {
      throw new JobError(
        `message sent to "${message.topic}", which is not among the job's outputs (${[...this.topics.keys()].join(', ')}); add it to outputs`,
      );
    }
    const { key, value, partition } = routeMessage(message, state.spec, this);
    this.buffer(state, partition).add(key, value, message.headers, message.timestamp);
    this.counted();
  }

  /** Buffers an already-encoded record (dead letters use it). */
  appendRaw(topic: string, partition: number, record: AppendRecord): void {
    const state = this.topics.get(topic);
    if (!state) throw new JobError(`"${topic}" is not among the job's outputs`);
    this.buffer(state, partition).addRecord(record);
    this.counted();
  }

  /** The partition's pending buffer (its spare, emptied, or a new one). */
  private buffer(state: OutputState, partition: number): RecordBuffer {
    let b = state.buffers[partition];
    if (b === undefined) {
      b =
        state.spares[partition] ??
        new RecordBuffer({ encode: this.encode, copy: true, format: this.log.bufferFormat });
      state.spares[partition] = undefined;
      state.buffers[partition] = b;
    }
    return b;
  }

  private counted(): void {
    this.sent++;
    if (this.buffered === 0) this.firstAt = performance.now();
    if (++this.buffered === this.maxBuffered) this.onFull();
  }

  /** Messages buffered and not yet appended. */
  get pending(): number {
    return this.buffered;
  }

  /** How long the oldest buffered message has waited, in ms (0 with nothing buffered). */
  waitedMs(now: number): number {
    return this.buffered === 0 ? 0 : now - this.firstAt;
  }

  partitionsOf(topic: string): number | undefined {
    return this.topics.get(topic)?.spec.partitions;
  }

  /**
   * Appends every buffered message (in `txn` when given), after the background append in flight
   * if any; rejects with that append's failure too, so no commit covers a lost output.
   */
  async flush(txn?: LogTransaction): Promise<void> {
    if (this.inflight !== undefined) await this.inflight;
    if (this.failed !== undefined) throw this.failed.error;
    await this.appendAll(txn);
  }

  /**
   * At-least-once linger: starts appending every buffered message and returns at once, so the run
   * loop goes on processing while the log (a Kafka broker) acknowledges. At most one runs at a
   * time (messages sent meanwhile wait in the buffers for the next, which keeps each partition's
   * order); none starts while one runs. `onDone` is called when it ended well, `onError` with its
   * failure (which the next `flush` rethrows too).
   */
  flushInBackground(onDone: () => void, onError: (err: unknown) => void): void {
    if (this.inflight !== undefined || this.buffered === 0 || this.failed !== undefined) return;
    const inflight: Promise<void> = this.appendAll(undefined).then(
      () => {
        this.inflight = undefined;
        onDone();
      },
      (error: unknown) => {
        this.inflight = undefined;
        this.failed = { error };
        onError(error);
      },
    );
    this.inflight = inflight;
  }

  /** True while a `flushInBackground` append runs. */
  get flushing(): boolean {
    return this.inflight !== undefined;
  }

  /** Resolves once no background append runs (its outcome is `flush`'s and `onError`'s). */
  async settled(): Promise<void> {
    if (this.inflight !== undefined) await this.inflight;
  }

  private async appendAll(txn: LogTransaction | undefined): Promise<void> {
    if (this.buffered === 0) return;
    const pending: Promise<unknown>[] = [];
    for (const { spec, buffers, spares } of this.topics.values()) {
      for (let p = 0; p < buffers.length; p++) {
        const records = buffers[p];
        if (records === undefined || records.count === 0) continue;
        buffers[p] = undefined;
        pending.push(
          appendBuffered(txn ?? this.log, spec.topic, p, records).then(() => {
            records.reset();
            spares[p] = records;
          }),
        );
      }
    }
    this.buffered = 0;
    await Promise.all(pending);
  }

  /** Drops every buffered message (after a failure: nothing past the last commit goes out). */
  discard(): void {
    for (const { buffers, spares } of this.topics.values()) {
      buffers.fill(undefined);
      spares.fill(undefined);
    }
    this.buffered = 0;
  }
}
