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
 */
import {
  type API,
  type Callback,
  type Connection,
  createRecordsBatch,
  groupByProperty,
  kGetApi,
  type MessageRecord,
  type NumericMap,
  ProduceAcks,
  Producer,
  produceV11,
  Writer,
} from '@platformatic/kafka';
import { encodeRecordBatch, type OutgoingRecord } from './record-batch.js';

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
        if (compressed) {
          records = createRecordsBatch(messages as unknown as MessageRecord[], options as never);
        } else {
          records = encodeRecordBatch(messages, {
            producerId: options.producerId,
            producerEpoch: options.producerEpoch,
            firstSequence: options.sequences?.getWithDefault(`${topic}:${partition}`, 0) ?? 0,
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
  connection.send(
    PRODUCE_API_KEY,
    PRODUCE_VERSION,
    () => createProduceRequest(acks, timeout, topicData, options),
    produceV11.parseResponse,
    true,
    true,
    callback,
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
