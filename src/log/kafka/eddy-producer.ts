/**
 * The client's `Producer` with Eddy's record-batch encoder in its Produce requests. Everything else
 * — idempotence (producer id, epoch, per-partition sequences), transactions, retries, metadata — is
 * the client's: only the bytes of each uncompressed batch are written by `encodeRecordBatch`, which
 * sizes the batch first and writes it into one buffer, where the client's `createRecordsBatch`
 * builds a writer and a buffer list per record and copies them together (the largest cost of
 * producing in a profile of Eddy on Kafka). The hook is the client's public extension point,
 * `kGetApi` (how its clients find the API implementation for a negotiated version): Produce v11, the
 * version Kafka 3.x/4.x brokers negotiate with this client, gets the same request with Eddy's
 * batches; any other version, and compressed batches, use the client's own code unchanged.
 *
 * Pre-encoded batches (`RecordBuffer`'s Kafka format, `KafkaLog.appendBuffer`): records encoded
 * into the v2 layout when they were sent, whole batches at the append. Each batch travels through
 * the client's `send` as one synthetic message (`preEncodedMessage`) whose key is a marker the
 * client's identity serializers pass through; the Produce request writes that partition's batch
 * as it is, with the producer id, epoch, base sequence (from the client's own sequence map) and
 * transactional bit of this attempt, and its CRC. So the client keeps doing what it does per send
 * (idempotence, retries with the same sequence, metadata, a transaction's partitions) and nothing
 * per record. The client advances a partition's sequence by its message count (1) once a send
 * succeeded; the response of the attempt that succeeded adds the batch's other `count - 1` (a
 * failed attempt adds nothing: the retry reuses the sequence). Eddy never has two appends to one
 * partition in flight (`KafkaLog` serialises them), so the next batch's sequence is known.
 */
import {
  type API,
  type Callback,
  type Connection,
  createRecordsBatch,
  groupByProperty,
  kGetApi,
  type MessageRecord,
  type MessageToProduce,
  type NumericMap,
  ProduceAcks,
  Producer,
  produceV11,
  Writer,
} from '@platformatic/kafka';
import { EddyError } from '../../util/errors.js';
import type { KafkaBatch } from '../record-buffer.js';
import { encodeRecordBatch, type OutgoingRecord } from './record-batch.js';
import { writeProducerFields } from './record-writer.js';

const PRODUCE_API_KEY = 0;
const PRODUCE_VERSION = 11;

interface ProduceOptions {
  compression?: string;
  producerId?: bigint;
  producerEpoch?: number;
  sequences?: NumericMap;
  transactionalId?: string | null;
}

type OutgoingMessage = OutgoingRecord & { topic: string; partition?: number };

/** The pre-encoded batch of each synthetic message, by the message's key (its marker). */
const preEncoded = new WeakMap<Buffer, KafkaBatch>();

/**
 * The client's message that stands for the pre-encoded `batch` (see above); hand it to the
 * producer's `send` alone, for an uncompressed `EddyProducer`.
 */
export function preEncodedMessage(topic: string, partition: number, batch: KafkaBatch): MessageToProduce {
  const key = Buffer.alloc(0);
  preEncoded.set(key, batch);
  return { topic, partition, key };
}

/**
 * Kafka's sequence numbers wrap to 0 past 2^31 - 1 (the broker's `incrementSequence`), while the
 * client's map counts on: a partition's base sequence is the map's count modulo 2^31, or the
 * 2,147,483,648th record of one producer session to a partition would not fit its field.
 */
const SEQUENCE_SPACE = 2 ** 31;

function firstSequence(options: ProduceOptions, topic: string, partition: number): number {
  return (options.sequences?.getWithDefault(`${topic}:${partition}`, 0) ?? 0) % SEQUENCE_SPACE;
}

/** The client's map as `createRecordsBatch` reads it, with Kafka's wrap. */
function wrapped(sequences: NumericMap | undefined): Pick<NumericMap, 'getWithDefault'> | undefined {
  if (sequences === undefined) return undefined;
  return { getWithDefault: (key, fallback) => sequences.getWithDefault(key, fallback) % SEQUENCE_SPACE };
}

function batchOf(messages: OutgoingMessage[]): KafkaBatch | undefined {
  const key = messages[0].key;
  return messages.length === 1 && key !== null && key !== undefined ? preEncoded.get(key) : undefined;
}

/** Produce v11's request (the client's layout) with Eddy's batches. */
export function createProduceRequest(
  acks: number,
  timeout: number,
  topicData: OutgoingMessage[],
  options: ProduceOptions = {},
): Writer {
  const now = BigInt(Date.now());
  for (const message of topicData) {
    if (message.partition === undefined) message.partition = 0;
    if (message.timestamp === undefined) message.timestamp = now;
  }
  const compressed = (options.compression ?? 'none') !== 'none';
  const writer = Writer.create()
    .appendString(options.transactionalId ?? null)
    .appendInt16(acks)
    .appendInt32(timeout)
    .appendArray(groupByProperty(topicData, 'topic'), (w, [t, messages]) => {
      const topic = t as string;
      w.appendString(topic).appendArray(groupByProperty(messages, 'partition'), (w, [p, messages]) => {
        const partition = p as number;
        let records: Buffer | Writer;
        const batch = batchOf(messages);
        if (batch !== undefined) {
          if (compressed)
            throw new EddyError(
              'EDDY_INTERNAL',
              'a pre-encoded batch cannot go through a compressing producer',
            );
          records = batch.bytes;
          writeProducerFields(
            records,
            0,
            options.producerId ?? -1n,
            options.producerEpoch ?? 0,
            firstSequence(options, topic, partition),
            options.transactionalId !== undefined && options.transactionalId !== null,
          );
        } else if (compressed) {
          records = createRecordsBatch(
            messages as unknown as MessageRecord[],
            {
              ...options,
              sequences: wrapped(options.sequences),
            } as never,
          );
        } else {
          records = encodeRecordBatch(messages, {
            producerId: options.producerId,
            producerEpoch: options.producerEpoch,
            firstSequence: firstSequence(options, topic, partition),
            transactional: options.transactionalId !== undefined && options.transactionalId !== null,
          });
        }
        w.appendInt32(partition).appendUnsignedVarInt(records.length + 1);
        if (records instanceof Writer) w.appendFrom(records);
        else w.append(records);
      });
    })
    .appendTaggedFields();
  if (acks === ProduceAcks.NO_RESPONSE) writer.context.noResponse = true;
  return writer;
}

type ProduceArgs = [number, number, OutgoingMessage[], ProduceOptions];

/** Produce v11 with Eddy's batches, called as the client calls its own API functions. */
function produceApi(connection: Connection, ...args: [...ProduceArgs, Callback<unknown>]): void {
  const callback = args.pop() as Callback<unknown>;
  const [acks, timeout, topicData, options] = args as unknown as ProduceArgs;
  // the sequences a successful response moves past the one the client counts per message
  let extra: Map<string, number> | undefined;
  const sequences = options.sequences;
  if (sequences !== undefined) {
    for (const message of topicData) {
      const batch =
        message.key === null || message.key === undefined ? undefined : preEncoded.get(message.key);
      if (batch === undefined || batch.count === 1) continue;
      extra ??= new Map();
      const key = `${message.topic}:${message.partition ?? 0}`;
      extra.set(key, (extra.get(key) ?? 0) + batch.count - 1);
    }
  }
  connection.send(
    PRODUCE_API_KEY,
    PRODUCE_VERSION,
    () => createProduceRequest(acks, timeout, topicData, options),
    produceV11.parseResponse,
    true,
    true,
    extra === undefined
      ? callback
      : (error: Error | null, response: unknown) => {
          if (error === null && sequences !== undefined && extra !== undefined)
            for (const [key, n] of extra) sequences.postIncrement(key, n, 0);
          callback(error, response);
        },
  );
}

export class EddyProducer extends Producer<Buffer, Buffer, Buffer, Buffer> {
  override [kGetApi]<RequestArguments extends Array<unknown>, ResponseType>(
    name: string,
    callback: Callback<API<RequestArguments, ResponseType>>,
  ): void {
    super[kGetApi]<RequestArguments, ResponseType>(name, (error, api) => {
      if (error === null && name === 'Produce' && (api as unknown) === produceV11.api)
        callback(null, produceApi as unknown as API<RequestArguments, ResponseType>);
      else callback(error, api);
    });
  }
}
