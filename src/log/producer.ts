/**
 * The producer: sends records to topics of any `Log`, routing and batching them.
 *
 * - Routing: an explicit `partition` wins; a non-null key goes to `partitionForKey(key, n)` (Kafka's
 *   murmur2 partitioner, so the embedded log and Kafka agree); a null key goes round-robin.
 * - Partition counts are looked up once per topic (`describeTopic`) and cached; messages sent while
 *   the lookup runs wait for it, in order.
 * - Batching: messages are buffered per partition and appended as one `append` (one batch) when a
 *   buffer reaches `batchSize` records or on the next turn of the event loop (`setImmediate`),
 *   whichever comes first. Appends to one partition run one at a time, in order.
 * - `send` and `sendBatch` return nothing (no promise per record): an append that fails is
 *   reported by the next `flush()`, which rejects with the first error and drops the rest of
 *   that failure's records. `flush()` resolves when everything sent before it is appended (and, as
 *   `log.flush()` resolves too, durable per the log's policy).
 * - The producer does not own the log: `close()` flushes and refuses further sends, the caller
 *   closes the log.
 */
import { InvalidArgumentError, LogClosedError, UnknownPartitionError } from '../util/errors.js';
import { partitionForKey } from '../util/murmur2.js';
import type { AppendRecord, Log, RecordHeaders } from './types.js';

/** A message to send. */
export interface ProducerMessage {
  key?: Buffer | null;
  /** `null` sends a tombstone. */
  value: Buffer | null;
  headers?: RecordHeaders;
  timestamp?: number;
  /** Overrides key routing. */
  partition?: number;
}

export interface ProducerOptions {
  /** Records per partition that trigger an append at once; default 1000. */
  batchSize?: number;
  /** Also flush the log (`log.flush()`) in `flush()`, making sends durable; default true. */
  flushLog?: boolean;
}

interface TopicState {
  partitions: number;
  /** The lookup of the partition count, while it runs. */
  lookup: Promise<void> | null;
  /** Messages sent while the lookup runs. */
  waiting: ProducerMessage[];
  buffers: AppendRecord[][];
  /** The tail of each partition's chain of appends. */
  chains: Promise<void>[];
  nextRoundRobin: number;
}

export class Producer {
  private readonly topics = new Map<string, TopicState>();
  private readonly batchSize: number;
  private readonly flushLog: boolean;
  private readonly pending = new Set<Promise<void>>();
  private errors: unknown[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    private readonly log: Log,
    options: ProducerOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 1000;
    this.flushLog = options.flushLog ?? true;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new InvalidArgumentError(`batchSize must be an integer >= 1, got ${this.batchSize}`);
    }
  }

  /** Buffers one message; see the file header for routing, batching and errors. */
  send(topic: string, message: ProducerMessage): void {
    if (this.closed) throw new LogClosedError('producer');
    const st = this.state(topic);
    if (st.lookup !== null) st.waiting.push(message);
    else this.route(topic, st, message);
  }

  /** Buffers many messages, in order. */
  sendBatch(topic: string, messages: Iterable<ProducerMessage>): void {
    for (const m of messages) this.send(topic, m);
  }

  /** The partition a key goes to (Kafka's partitioner over the topic's partition count). */
  async partitionFor(topic: string, key: Buffer): Promise<number> {
    const st = this.state(topic);
    if (st.lookup !== null) await st.lookup;
    return partitionForKey(key, st.partitions);
  }

  private state(topic: string): TopicState {
    let st = this.topics.get(topic);
    if (st === undefined) {
      const created: TopicState = {
        partitions: 0,
        lookup: null,
        waiting: [],
        buffers: [],
        chains: [],
        nextRoundRobin: 0,
      };
      created.lookup = this.log.describeTopic(topic).then(
        (info) => {
          created.partitions = info.partitions.length;
          for (let p = 0; p < created.partitions; p++) {
            created.buffers.push([]);
            created.chains.push(Promise.resolve());
          }
          created.lookup = null;
          const waiting = created.waiting;
          created.waiting = [];
          for (const m of waiting) {
            try {
              this.route(topic, created, m);
            } catch (err) {
              this.errors.push(err);
            }
          }
        },
        (err) => {
          this.errors.push(err);
          this.topics.delete(topic);
        },
      );
      this.track(created.lookup);
      this.topics.set(topic, created);
      st = created;
    }
    return st;
  }

  private route(topic: string, st: TopicState, m: ProducerMessage): void {
    const n = st.partitions;
    let p: number;
    if (m.partition !== undefined) {
      p = m.partition;
      if (!Number.isInteger(p) || p < 0 || p >= n) throw new UnknownPartitionError(topic, p, n);
    } else if (m.key != null) p = partitionForKey(m.key, n);
    else {
      p = st.nextRoundRobin;
      st.nextRoundRobin = (p + 1) % n;
    }
    const buf = st.buffers[p];
    buf.push({ key: m.key ?? null, value: m.value, headers: m.headers, timestamp: m.timestamp });
    if (buf.length >= this.batchSize) this.dispatch(topic, st, p);
    else if (this.immediate === undefined) this.immediate = setImmediate(() => this.dispatchAll());
  }

  private dispatch(topic: string, st: TopicState, p: number): void {
    const records = st.buffers[p];
    if (records.length === 0) return;
    st.buffers[p] = [];
    const next = st.chains[p]
      .then(() => this.log.append(topic, p, records))
      .then(
        () => {},
        (err) => {
          this.errors.push(err);
        },
      );
    st.chains[p] = next;
    this.track(next);
  }

  private track(p: Promise<void>): void {
    const tracked = p.then(
      () => {},
      () => {},
    );
    this.pending.add(tracked);
    void tracked.then(() => this.pending.delete(tracked));
  }

  private dispatchAll(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    for (const [topic, st] of this.topics) {
      for (let p = 0; p < st.buffers.length; p++) this.dispatch(topic, st, p);
    }
  }

  /** Appends everything buffered and waits for it; rejects with the first failure since the last flush. */
  async flush(): Promise<void> {
    while (true) {
      this.dispatchAll();
      if (this.pending.size === 0) break;
      await Promise.all([...this.pending]);
    }
    const errors = this.errors;
    this.errors = [];
    if (errors.length > 0) throw errors[0];
    if (this.flushLog) await this.log.flush();
  }

  /** Flushes and refuses further sends. Idempotent; does not close the log. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
  }
}
