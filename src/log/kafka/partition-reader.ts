/**
 * Reads of the Kafka log: `read` (one fetch at a time, from the partition's leader, read_committed)
 * and `waitForData` (long-poll fetches: the broker holds each up to `maxWaitMs` until data below
 * the last stable offset arrives, so nothing polls in a loop).
 *
 * Fetches go straight to the Fetch API (v17, no fetch session) over connection pools this reader
 * owns: one pool for reads, and one pool per concurrent `waitForData`, because a broker answers
 * the requests of one connection in order and a held long-poll would delay every read behind it.
 * Wait pools are reused; `close()` closes every pool (in-flight waits then resolve `false`).
 *
 * A range that holds nothing visible (transaction markers, aborted records) is skipped: `read`
 * continues after it, and `waitForData` resolves `true` only when a visible record exists.
 */
import { type Broker, ConnectionPool, FetchIsolationLevels, fetchV17 } from '@platformatic/kafka';
import { InvalidArgumentError, LogClosedError, OffsetOutOfRangeError } from '../../util/errors.js';
import type { LogRecord } from '../types.js';
import type { TopicAdmin } from './admin.js';
import { hasProtocolError, isRetriable, protocolIds, toEddyError } from './kafka-errors.js';
import type { ResolvedKafkaLogOptions } from './options.js';
import { visibleRecords } from './visible-records.js';

type FetchedPartition = fetchV17.FetchResponsePartition;

/** Thrown by `fetchOnce` when the broker answers OFFSET_OUT_OF_RANGE. */
class OutOfRange extends Error {}

const STALE = [
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
];
const UNKNOWN = ['UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID'];
const WAIT_FETCH_BYTES = 64 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class PartitionReader {
  private readonly readPool: ConnectionPool;
  private readonly idleWaitPools: ConnectionPool[] = [];
  private readonly pools = new Set<ConnectionPool>();
  private closed = false;

  constructor(
    private readonly admin: TopicAdmin,
    private readonly options: ResolvedKafkaLogOptions,
  ) {
    this.readPool = this.newPool();
  }

  private newPool(): ConnectionPool {
    const pool = new ConnectionPool(`${this.options.clientId}-reader`, {
      ...this.options.connection,
      connectTimeout: this.options.connectTimeoutMs,
      requestTimeout: this.options.requestTimeoutMs,
    });
    this.pools.add(pool);
    return pool;
  }

  /** One fetch from the partition's leader, retried on stale metadata and network errors. */
  private async fetchOnce(
    pool: ConnectionPool,
    topic: string,
    partition: number,
    offset: number,
    maxBytes: number,
    maxWaitMs: number,
  ): Promise<FetchedPartition> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new LogClosedError('Kafka log');
      const md = await this.admin.partition(topic, partition, attempt > 0);
      const leader = md.partitions[partition].leader;
      const broker: Broker | undefined = md.brokers.get(leader);
      try {
        if (broker === undefined) throw new Error(`no leader for ${topic}/${partition} (leader ${leader})`);
        const connection = await pool.get(broker);
        const response = await fetchV17.api.async(
          connection,
          maxWaitMs,
          1,
          maxBytes,
          FetchIsolationLevels.READ_COMMITTED,
          0,
          -1, // no fetch session
          [
            {
              topicId: md.id,
              partitions: [
                {
                  partition,
                  currentLeaderEpoch: -1,
                  fetchOffset: BigInt(offset),
                  lastFetchedEpoch: -1,
                  partitionMaxBytes: maxBytes,
                },
              ],
            },
          ],
          [],
          '',
        );
        const part = response.responses[0]?.partitions[0];
        if (part === undefined) throw new Error('the fetch response has no partition');
        return part;
      } catch (err) {
        if (this.closed) throw new LogClosedError('Kafka log');
        if (hasProtocolError(err, 'OFFSET_OUT_OF_RANGE')) throw new OutOfRange();
        const ids = protocolIds(err);
        const stale = broker === undefined || ids.some((id) => STALE.includes(id) || UNKNOWN.includes(id));
        if (attempt < this.options.retries && (stale || isRetriable(err))) {
          await sleep(this.options.retryDelayMs);
          continue; // refreshes the metadata: UnknownTopicError if the topic is gone
        }
        throw toEddyError(err, `fetching ${topic}/${partition} at offset ${offset}`);
      }
    }
  }

  private async outOfRange(topic: string, partition: number, offset: number): Promise<never> {
    const { earliest, end } = await this.admin.offsets(topic, [partition]);
    throw new OffsetOutOfRangeError(topic, partition, offset, earliest[0], end[0]);
  }

  /** See `Log.read`. */
  async read(
    topic: string,
    partition: number,
    offset: number,
    maxRecords: number,
    maxBytes: number,
  ): Promise<LogRecord[]> {
    if (!Number.isSafeInteger(offset)) {
      throw new InvalidArgumentError(
        `offset must be an integer, got ${offset} (reading ${topic}/${partition})`,
      );
    }
    if (offset < 0) return this.outOfRange(topic, partition, offset);
    // A fetch can stop at a batch boundary (the broker sends whole batches, and not always all
    // that fit): fetch again until the budget is used or the end is reached.
    const out: LogRecord[] = [];
    let bytes = 0;
    let at = offset;
    for (;;) {
      let part: FetchedPartition;
      try {
        part = await this.fetchOnce(this.readPool, topic, partition, at, Math.max(1, maxBytes - bytes), 0);
      } catch (err) {
        if (err instanceof OutOfRange) {
          if (out.length > 0) return out; // the log moved under us (retention): return what we have
          return this.outOfRange(topic, partition, offset);
        }
        throw err;
      }
      const end = Number(part.lastStableOffset >= 0n ? part.lastStableOffset : part.highWatermark);
      if (offset > end)
        throw new OffsetOutOfRangeError(topic, partition, offset, Number(part.logStartOffset), end);
      const got = visibleRecords(part, at, maxRecords - out.length, maxBytes - bytes, out.length === 0);
      for (const r of got.records) out.push(r);
      bytes += got.bytes;
      if (got.full || got.nextOffset <= at || got.nextOffset >= end) return out;
      at = got.nextOffset;
    }
  }

  /** See `Log.waitForData`. */
  async waitForData(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(
        `offset must be an integer >= 0, got ${offset} (waiting on ${topic}/${partition})`,
      );
    }
    await this.admin.partition(topic, partition); // UnknownTopicError / UnknownPartitionError first
    const deadline = Date.now() + timeoutMs;
    let at = offset;
    while (!this.closed && signal?.aborted !== true) {
      const remaining = deadline - Date.now();
      const pool = this.idleWaitPools.pop() ?? this.newPool();
      const fetching = this.fetchOnce(
        pool,
        topic,
        partition,
        at,
        WAIT_FETCH_BYTES,
        Math.max(0, Math.min(remaining, this.options.maxWaitMs)),
      );
      // The pool goes back to the idle list only when its fetch has settled, even after an abort.
      fetching.then(
        () => this.releaseWaitPool(pool),
        () => this.releaseWaitPool(pool),
      );
      let part: FetchedPartition | 'aborted';
      try {
        part = await raceAbort(fetching, signal);
      } catch (err) {
        if (this.closed) return false;
        if (err instanceof OutOfRange) {
          // Below the earliest offset: data exists at the earliest. Above the end: wait from the end.
          const { earliest, end } = await this.admin.offsets(topic, [partition]);
          if (at < earliest[0]) return true;
          if (end[0] === at) return false; // cannot happen unless the log moved; try again later
          at = end[0];
          continue;
        }
        throw err;
      }
      if (part === 'aborted') return false;
      const { records, nextOffset } = visibleRecords(part, offset, 1, Number.MAX_SAFE_INTEGER);
      if (records.length > 0) return true;
      if (nextOffset > at) {
        at = nextOffset; // skip markers, aborted records and records below `offset`, without waiting
        continue;
      }
      if (remaining <= 0) return false;
    }
    return false;
  }

  private releaseWaitPool(pool: ConnectionPool): void {
    if (this.closed) return;
    this.idleWaitPools.push(pool);
  }

  /** Closes every pool. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pools = [...this.pools];
    this.pools.clear();
    this.idleWaitPools.length = 0;
    await Promise.all(pools.map((p) => p.close().catch(() => {})));
  }
}

/** `promise`, or `'aborted'` as soon as `signal` aborts (the listener is removed either way). */
function raceAbort<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T | 'aborted'> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise<T | 'aborted'>((resolve, reject) => {
    const onAbort = (): void => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
