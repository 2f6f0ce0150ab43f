/**
 * Fetch (API key 1, v17) with Eddy's own response decoder. The request is the client's
 * (`fetchV17.createRequest`, sent on its connection); the response is read here, from one contiguous
 * buffer, instead of by the client's parser: that one decodes every record into objects through
 * `DynamicBuffer`, whose every varint and slice first searches the list of socket chunks, and that
 * capped a fetch at ~90k records/s. Here the partition header is decoded (a few fields) and its
 * record set is kept as raw bytes, for `VisibleRecords` to decode lazily, only as far as a reader
 * takes (see `visible-records.ts`, `record-batch.ts`).
 *
 * Errors: a top-level or partition error code becomes the client's `ResponseError` (as its own
 * parser throws), so `kafka-errors.ts` maps it as before (OFFSET_OUT_OF_RANGE,
 * NOT_LEADER_OR_FOLLOWER, …).
 */
import { type Connection, fetchV17, type Reader, ResponseError } from '@platformatic/kafka';

const FETCH_API_KEY = 1;
const FETCH_VERSION = 17;
const TWO_32 = 0x1_0000_0000;

/** An aborted transaction the broker lists for the fetched range. */
export interface AbortedTransaction {
  readonly producerId: bigint;
  readonly firstOffset: number;
}

/** One partition of a fetch response; offsets as numbers (Kafka offsets stay below 2^53). */
export interface FetchedPartition {
  readonly partitionIndex: number;
  readonly errorCode: number;
  readonly highWatermark: number;
  /** -1 when the broker does not know it (then the high watermark applies). */
  readonly lastStableOffset: number;
  readonly logStartOffset: number;
  readonly abortedTransactions: readonly AbortedTransaction[];
  /** The raw record set (record batches, magic v2); empty when the range holds nothing. */
  readonly records: Buffer;
}

export interface FetchRequest {
  readonly maxWaitMs: number;
  readonly maxBytes: number;
  readonly topicId: string;
  readonly partition: number;
  readonly offset: number;
}

const EMPTY = Buffer.alloc(0);

/** Sends one read_committed, sessionless fetch of one partition; resolves with its partition. */
export function fetchPartition(connection: Connection, request: FetchRequest): Promise<FetchedPartition> {
  return new Promise((resolve, reject) => {
    connection.send(
      FETCH_API_KEY,
      FETCH_VERSION,
      () =>
        fetchV17.createRequest(
          request.maxWaitMs,
          1,
          request.maxBytes,
          1, // READ_COMMITTED
          0,
          -1, // no fetch session
          [
            {
              topicId: request.topicId,
              partitions: [
                {
                  partition: request.partition,
                  currentLeaderEpoch: -1,
                  fetchOffset: BigInt(request.offset),
                  lastFetchedEpoch: -1,
                  partitionMaxBytes: request.maxBytes,
                },
              ],
            },
          ],
          [],
          '',
        ),
      parseFetchResponse,
      true,
      true,
      (err: Error | null, part?: FetchedPartition) => {
        if (err !== null || part === undefined) reject(err);
        else resolve(part);
      },
    );
  });
}

/** The client's parser hook: the response body is copied once into one buffer and decoded. */
function parseFetchResponse(
  _correlationId: number,
  apiKey: number,
  apiVersion: number,
  reader: Reader,
): FetchedPartition {
  const body = reader.buffer.slice(reader.position, reader.buffer.length);
  return decodeFetchResponse(body, apiKey, apiVersion);
}

/**
 * Decodes a Fetch v17 response body (after the response header) and returns its first partition
 * (Eddy fetches one at a time); throws `ResponseError` on any error code.
 */
export function decodeFetchResponse(
  buf: Buffer,
  apiKey = FETCH_API_KEY,
  apiVersion = FETCH_VERSION,
): FetchedPartition {
  const r = new BodyReader(buf);
  r.pos += 4; // throttle_time_ms
  const errorCode = r.int16();
  r.pos += 4; // session_id
  const errors: Record<string, [number, null]> = {};
  let failed = errorCode !== 0;
  if (failed) errors[''] = [errorCode, null];
  let first: FetchedPartition | undefined;
  const topics = r.uvarint() - 1;
  for (let t = 0; t < topics; t++) {
    r.pos += 16; // topic_id
    const partitions = r.uvarint() - 1;
    for (let p = 0; p < partitions; p++) {
      const partitionIndex = r.int32();
      const partErr = r.int16();
      const highWatermark = r.int64();
      const lastStableOffset = r.int64();
      const logStartOffset = r.int64();
      const abortedCount = r.uvarint() - 1; // compact nullable array: 0 is null
      const abortedTransactions: AbortedTransaction[] = [];
      for (let a = 0; a < abortedCount; a++) {
        const producerId = buf.readBigInt64BE(r.pos);
        r.pos += 8;
        const firstOffset = r.int64();
        r.skipTags();
        abortedTransactions.push({ producerId, firstOffset });
      }
      r.pos += 4; // preferred_read_replica
      const size = r.uvarint() - 1; // COMPACT_RECORDS: 0 is null
      const records = size > 0 ? buf.subarray(r.pos, r.pos + size) : EMPTY;
      if (size > 0) r.pos += size;
      r.skipTags();
      if (partErr !== 0) {
        failed = true;
        errors[`/responses/${t}/partitions/${p}`] = [partErr, null];
      }
      first ??= {
        partitionIndex,
        errorCode: partErr,
        highWatermark,
        lastStableOffset,
        logStartOffset,
        abortedTransactions,
        records,
      };
    }
    r.skipTags();
  }
  if (failed) throw new ResponseError(apiKey, apiVersion, errors, { errorCode, partition: first });
  if (first === undefined) throw new Error('the fetch response has no partition');
  return first;
}

/** Big-endian reads and unsigned varints over one buffer. */
class BodyReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  int16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A signed int64 as a number (exact below 2^53; offsets and -1 are). */
  int64(): number {
    const v = this.buf.readInt32BE(this.pos) * TWO_32 + this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return v;
  }

  uvarint(): number {
    let value = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new RangeError('truncated fetch response');
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
      shift += 7;
    }
  }

  /** Skips a tagged-fields section. */
  skipTags(): void {
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint(); // tag
      const size = this.uvarint();
      this.pos += size;
    }
  }
}
