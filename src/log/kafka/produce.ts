/**
 * Appends as produce requests: Eddy's `AppendRecord`s as the client's messages (always with an
 * explicit partition; a null value is a tombstone, a null key no key), and the produce response
 * as an `AppendResult` (the broker's base offset of the batch).
 */
import type { MessageToProduce, ProduceResult } from '@platformatic/kafka';
import { InvalidArgumentError, KafkaError } from '../../util/errors.js';
import type { KafkaBatch } from '../record-buffer.js';
import type { AppendRecord, AppendResult } from '../types.js';
import { preEncodedMessage } from './eddy-producer.js';
import { MAX_BATCH_BYTES } from './record-writer.js';

/** The messages of one append to `topic`/`partition`; `InvalidArgumentError` for a malformed record. */
export function toMessages(
  topic: string,
  partition: number,
  records: readonly AppendRecord[],
): MessageToProduce[] {
  const now = BigInt(Date.now());
  const messages: MessageToProduce[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r === null || typeof r !== 'object' || (r.value !== null && !(r.value instanceof Uint8Array))) {
      throw new InvalidArgumentError(
        `record ${i} of an append to ${topic}/${partition}: value must be a Buffer or null`,
      );
    }
    if (r.key !== undefined && r.key !== null && !(r.key instanceof Uint8Array)) {
      throw new InvalidArgumentError(
        `record ${i} of an append to ${topic}/${partition}: key must be a Buffer or null`,
      );
    }
    const message: MessageToProduce = {
      topic,
      partition,
      key: r.key === null || r.key === undefined ? undefined : toBuffer(r.key),
      value: r.value === null ? undefined : toBuffer(r.value),
      timestamp: r.timestamp === undefined ? now : BigInt(Math.trunc(r.timestamp)),
    };
    if (r.headers !== undefined) {
      const headers = new Map<Buffer, Buffer>();
      for (const [name, value] of Object.entries(r.headers))
        headers.set(Buffer.from(name, 'utf8'), toBuffer(value));
      message.headers = headers;
    }
    messages[i] = message;
  }
  return messages;
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The largest spread of timestamps within one produce batch. A batch stores each record's timestamp
 * as a delta from the first, and the client (1.35) encodes deltas of 2^31 ms (about 24.8 days) or
 * more wrongly; an append whose timestamps spread wider goes out as several batches, one after the
 * other (then, outside a transaction, it is not atomic: a failure can leave its first batches
 * written). So does an append over MAX_BATCH_BYTES.
 */
const MAX_TIMESTAMP_SPREAD = 2n ** 31n - 1n;

// MAX_BATCH_BYTES (record-writer.ts): the client sends one append as one batch, so a larger append
// goes out as several, counted in keys, values and headers plus a per-record allowance.
const RECORD_OVERHEAD = 24;

function sizeOf(m: MessageToProduce): number {
  let n = RECORD_OVERHEAD + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  if (m.headers instanceof Map) for (const [k, v] of m.headers) n += k.length + v.length + 8;
  return n;
}

/**
 * The messages of one append, in groups that each fit one batch: timestamps within the spread above,
 * at most MAX_BATCH_BYTES (a single larger record goes alone, and the broker decides).
 */
export function toMessageGroups(
  topic: string,
  partition: number,
  records: readonly AppendRecord[],
): MessageToProduce[][] {
  const messages = toMessages(topic, partition, records);
  const groups: MessageToProduce[][] = [];
  let group: MessageToProduce[] = [];
  let first = 0n;
  let bytes = 0;
  for (const m of messages) {
    const ts = m.timestamp as bigint;
    const size = sizeOf(m);
    if (
      group.length > 0 &&
      (ts - first > MAX_TIMESTAMP_SPREAD ||
        first - ts > MAX_TIMESTAMP_SPREAD ||
        bytes + size > MAX_BATCH_BYTES)
    ) {
      groups.push(group);
      group = [];
    }
    if (group.length === 0) {
      first = ts;
      bytes = 0;
    }
    group.push(m);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** What one produce request sends: the client's messages, standing for `count` records. */
export interface ProducePart {
  readonly messages: MessageToProduce[];
  readonly count: number;
}

/** The groups of `toMessageGroups` as produce parts. */
export function groupParts(groups: readonly MessageToProduce[][]): ProducePart[] {
  return groups.map((messages) => ({ messages, count: messages.length }));
}

/**
 * Pre-encoded batches (`RecordBuffer.kafkaBatches`) as produce parts: each one message of the
 * client's that `EddyProducer` writes as the batch (see `preEncodedMessage`).
 */
export function batchParts(topic: string, partition: number, batches: readonly KafkaBatch[]): ProducePart[] {
  return batches.map((batch) => ({
    messages: [preEncodedMessage(topic, partition, batch)],
    count: batch.count,
  }));
}

/** Sends each part, one after the other; the offsets of all their records. */
export async function sendInTurn(
  parts: readonly ProducePart[],
  topic: string,
  partition: number,
  send: (messages: MessageToProduce[]) => Promise<ProduceResult>,
): Promise<AppendResult> {
  let baseOffset = -1;
  let nextOffset = -1;
  for (const part of parts) {
    const r = toAppendResult(await send(part.messages), topic, partition, part.count);
    if (baseOffset < 0) baseOffset = r.baseOffset;
    nextOffset = r.nextOffset;
  }
  return { baseOffset, nextOffset };
}

/** The offsets the broker assigned to `count` records appended to `topic`/`partition`. */
export function toAppendResult(
  result: ProduceResult,
  topic: string,
  partition: number,
  count: number,
): AppendResult {
  let base: bigint | undefined;
  for (const o of result.offsets ?? []) {
    if (o.topic === topic && o.partition === partition && (base === undefined || o.offset < base))
      base = o.offset;
  }
  if (base === undefined || base < 0n) {
    throw new KafkaError(
      `appending to ${topic}/${partition}: the produce response has no offset for the partition`,
    );
  }
  const baseOffset = Number(base);
  return { baseOffset, nextOffset: baseOffset + count };
}
