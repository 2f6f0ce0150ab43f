/**
 * Reads of the Kafka log: `read` (read_committed fetches from the partition's leader) and
 * `waitForData` (long-poll fetches: the broker holds each up to `maxWaitMs` until data below the
 * last stable offset arrives, so nothing polls in a loop).
 *
 * Fetches go straight to the Fetch API (v17, no fetch session; Eddy's own response decoder, see
 * `fetch-response.ts`) over connection pools this reader owns: one pool for reads, and one pool
 * per concurrent `waitForData`, because a broker answers the requests of one connection in order
 * and a held long-poll would delay every read behind it. Wait pools are reused; `close()` closes
 * every pool (in-flight waits then resolve `false`).
 *
 * Sequential reads are pipelined: a fetch asks for at least `READ_FETCH_BYTES` (more than one
 * `read` usually returns), the rest of its records stays decoded-on-demand in a per-partition
 * cursor that the next `read` at the next offset continues, and as soon as a fetch arrives that
 * does not reach the partition's end, the fetch of what follows it is sent (one in flight per
 * partition, as Kafka's consumer does): the broker reads and sends the next range while this
 * process decodes and applies the current one. A cursor holds records committed when they were
 * fetched; a `read` at any other offset, or after the cursor is used up, fetches anew.
 *
 * A range that holds nothing visible (transaction markers, aborted records) is skipped: `read`
 * continues after it, and `waitForData` resolves `true` only when a visible record exists.
 */
import { type Broker, ConnectionPool } from '@platformatic/kafka';
import { InvalidArgumentError, LogClosedError, OffsetOutOfRangeError } from '../../util/errors.js';
import { SpanBuilder } from '../record-spans.js';
import type { LogRecord, RecordSpans } from '../types.js';
import type { TopicAdmin } from './admin.js';
import { type FetchedPartition, fetchPartition } from './fetch-response.js';
import { hasProtocolError, isRetriable, protocolIds, toEddyError } from './kafka-errors.js';
import type { ResolvedKafkaLogOptions } from './options.js';
import { type TakeResult, VisibleRecords } from './visible-records.js';

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
/** The least a read fetches (Kafka's consumer: `max.partition.fetch.bytes`, 1 MiB). */
const READ_FETCH_BYTES = 1024 * 1024;
/** Partitions whose cursor is kept; past it the oldest is dropped. */
const MAX_CURSORS = 1024;

/** The undelivered rest of a partition's last fetch, and the fetch of what follows it. */
interface Cursor {
  view: VisibleRecords;
  /** The partition's end (last stable offset, else high watermark) when `view` was fetched. */
  end: number;
  prefetch: { offset: number; maxBytes: number; part: Promise<FetchedPartition> } | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class PartitionReader {
  private readonly readPool: ConnectionPool;
  private readonly idleWaitPools: ConnectionPool[] = [];
  private readonly pools = new Set<ConnectionPool>();
  private readonly cursors = new Map<string, Cursor>();
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
        const part = await fetchPartition(connection, {
          maxWaitMs,
          maxBytes,
          topicId: md.id,
          partition,
          offset,
        });
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
    const out: LogRecord[] = [];
    await this.readInto(topic, partition, offset, maxRecords, maxBytes, {
      take: (view, n, b, first) => view.take(out, n, b, first),
      taken: () => out.length,
    });
    return out;
  }

  /** See `Log.readSpans`. */
  async readSpans(
    topic: string,
    partition: number,
    offset: number,
    maxRecords: number,
    maxBytes: number,
  ): Promise<RecordSpans[]> {
    const out = new SpanBuilder();
    await this.readInto(topic, partition, offset, maxRecords, maxBytes, {
      take: (view, n, b, first) => view.takeSpans(out, n, b, first),
      taken: () => out.count,
    });
    return out.finish();
  }

  /** The loop of `read` and `readSpans`: `sink.take`s from the partition's cursors. */
  private async readInto(
    topic: string,
    partition: number,
    offset: number,
    maxRecords: number,
    maxBytes: number,
    sink: {
      take(view: VisibleRecords, maxRecords: number, maxBytes: number, atLeastOne: boolean): TakeResult;
      taken(): number;
    },
  ): Promise<void> {
    if (!Number.isSafeInteger(offset)) {
      throw new InvalidArgumentError(
        `offset must be an integer, got ${offset} (reading ${topic}/${partition})`,
      );
    }
    if (offset < 0) return this.outOfRange(topic, partition, offset);
    const key = `${topic}\u0000${partition}`;
    const where = `${topic}/${partition}`;
    // A fetch can stop at a batch boundary (the broker sends whole batches, and not always all
    // that fit): fetch again until the budget is used or the end is reached.
    let bytes = 0;
    let at = offset;
    for (;;) {
      let cursor = this.cursors.get(key);
      if (cursor === undefined || cursor.view.nextOffset !== at || cursor.view.done) {
        const fetchBytes = Math.max(READ_FETCH_BYTES, maxBytes - bytes);
        let part: FetchedPartition;
        try {
          part = await this.fetchAt(cursor, topic, partition, at, fetchBytes);
        } catch (err) {
          this.cursors.delete(key);
          if (err instanceof OutOfRange) {
            if (sink.taken() > 0) return; // the log moved under us (retention): return what we have
            return this.outOfRange(topic, partition, offset);
          }
          throw err;
        }
        const end = part.lastStableOffset >= 0 ? part.lastStableOffset : part.highWatermark;
        if (offset > end) {
          this.cursors.delete(key);
          throw new OffsetOutOfRangeError(topic, partition, offset, part.logStartOffset, end);
        }
        cursor = { view: new VisibleRecords(part, at, where), end, prefetch: undefined };
        this.keep(key, cursor);
        const next = cursor.view.fetchEnd();
        if (next > at && next < end) {
          const prefetched = this.fetchOnce(this.readPool, topic, partition, next, fetchBytes, 0);
          prefetched.catch(() => {}); // a failed prefetch is fetched again when needed
          cursor.prefetch = { offset: next, maxBytes: fetchBytes, part: prefetched };
        }
      }
      const view = cursor.view;
      const taken = sink.taken();
      const got = sink.take(view, maxRecords - taken, maxBytes - bytes, taken === 0);
      bytes += got.bytes;
      if (got.full || view.nextOffset <= at || view.nextOffset >= cursor.end) return;
      at = view.nextOffset;
    }
  }

  /** The fetch at `offset`: the cursor's prefetch when it is the one, else a new fetch. */
  private async fetchAt(
    cursor: Cursor | undefined,
    topic: string,
    partition: number,
    offset: number,
    maxBytes: number,
  ): Promise<FetchedPartition> {
    const prefetch = cursor?.prefetch;
    if (prefetch !== undefined && prefetch.offset === offset && prefetch.maxBytes >= maxBytes) {
      const part = await prefetch.part.catch(() => undefined);
      if (part !== undefined) return part;
    }
    return this.fetchOnce(this.readPool, topic, partition, offset, maxBytes, 0);
  }

  private keep(key: string, cursor: Cursor): void {
    this.cursors.delete(key);
    this.cursors.set(key, cursor);
    if (this.cursors.size > MAX_CURSORS) {
      const oldest = this.cursors.keys().next().value;
      if (oldest !== undefined) this.cursors.delete(oldest);
    }
  }

  /** Drops the cursors of `topic` (it was deleted: a new topic of that name starts over). */
  forget(topic: string): void {
    for (const key of this.cursors.keys()) if (key.startsWith(`${topic}\u0000`)) this.cursors.delete(key);
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
      const view = new VisibleRecords(part, offset, `${topic}/${partition}`);
      const records: LogRecord[] = [];
      view.take(records, 1, Number.MAX_SAFE_INTEGER, true);
      const nextOffset = view.nextOffset;
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
    this.cursors.clear();
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
