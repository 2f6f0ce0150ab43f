/**
 * A log shared by a running job and the writers that feed it from outside (`eddy produce` through
 * the control socket, `POST /v1/topics/{topic}/records`): every call goes to the inner log, but
 * transactions take turns. The embedded log has one open transaction at a time and refuses a plain
 * append to a partition its open transaction wrote; without turns, a produce's transaction would
 * make an exactly-once job's commit fail (or the job's output append, when both write one topic).
 *
 * - `beginTransaction` waits until the previous transaction of this log (any writer's) committed or
 *   aborted, then begins one; its `commit`/`abort` hand the turn on.
 * - A plain `append` to a partition the open transaction wrote waits for that transaction to end;
 *   any other append goes straight through (the common case costs one Set lookup, and nothing
 *   when no transaction is open).
 *
 * Kafka's log allows one open transaction per transactional id; the turns serialise them all,
 * which is only slower, never wrong. `close()` closes the inner log.
 */

import type { RecordBuffer } from '../../log/record-buffer.js';
import type {
  AppendRecord,
  AppendResult,
  BatchReadOptions,
  Log,
  LogRecord,
  LogTransaction,
  ReadOptions,
  RecordBatches,
  TopicConfigInput,
  TopicInfo,
  TransactionOptions,
} from '../../log/types.js';

export class SharedLog implements Log {
  readonly backend: Log['backend'];
  readonly supports: Log['supports'];
  readonly bufferFormat: Log['bufferFormat'];
  /** Resolves when the current transaction (if any) has ended. */
  private turn: Promise<void> = Promise.resolve();
  /** The partitions (`topic\0partition`) the open transaction wrote; undefined when none is open. */
  private written: Set<string> | undefined;

  constructor(readonly inner: Log) {
    this.backend = inner.backend;
    this.supports = inner.supports;
    this.bufferFormat = inner.bufferFormat;
    if (inner.truncate)
      this.truncate = (t, p, o) => (inner.truncate as NonNullable<Log['truncate']>)(t, p, o);
    if (inner.holdCompaction) {
      this.holdCompaction = (t, p, o) =>
        (inner.holdCompaction as NonNullable<Log['holdCompaction']>).call(inner, t, p, o);
    }
    if (!inner.beginTransaction) this.beginTransaction = undefined;
    if (!inner.appendBuffer) this.appendBuffer = undefined;
    if (inner.readBatches) {
      this.readBatches = (t, p, o, options) =>
        (inner.readBatches as NonNullable<Log['readBatches']>).call(inner, t, p, o, options);
    }
  }

  createTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    return this.inner.createTopic(name, config);
  }
  ensureTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    return this.inner.ensureTopic(name, config);
  }
  deleteTopic(name: string): Promise<void> {
    return this.inner.deleteTopic(name);
  }
  listTopics(): Promise<string[]> {
    return this.inner.listTopics();
  }
  describeTopic(name: string): Promise<TopicInfo> {
    return this.inner.describeTopic(name);
  }

  async append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    while (this.written?.has(`${topic}\0${partition}`)) await this.turn;
    return this.inner.append(topic, partition, records);
  }

  appendBuffer? = async (topic: string, partition: number, records: RecordBuffer): Promise<AppendResult> => {
    while (this.written?.has(`${topic}\0${partition}`)) await this.turn;
    return (this.inner.appendBuffer as NonNullable<Log['appendBuffer']>).call(
      this.inner,
      topic,
      partition,
      records,
    );
  };

  read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<LogRecord[]> {
    return this.inner.read(topic, partition, offset, options);
  }
  readBatches?: (
    topic: string,
    partition: number,
    offset: number,
    options?: BatchReadOptions,
  ) => Promise<RecordBatches>;
  earliestOffset(topic: string, partition: number): Promise<number> {
    return this.inner.earliestOffset(topic, partition);
  }
  endOffset(topic: string, partition: number): Promise<number> {
    return this.inner.endOffset(topic, partition);
  }
  waitForData(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    return this.inner.waitForData(topic, partition, offset, timeoutMs, signal);
  }

  truncate?: (topic: string, partition: number, offset: number) => Promise<void>;
  holdCompaction?: (topic: string, partition: number, offset: number) => Promise<void>;

  beginTransaction? = async (options?: TransactionOptions): Promise<LogTransaction> => {
    for (;;) {
      const turn = this.turn;
      await turn;
      if (this.turn === turn && this.written === undefined) break;
    }
    let end!: () => void;
    this.turn = new Promise<void>((resolve) => {
      end = resolve;
    });
    const written = new Set<string>();
    this.written = written;
    let txn: LogTransaction;
    try {
      txn = await (this.inner.beginTransaction as NonNullable<Log['beginTransaction']>).call(
        this.inner,
        options,
      );
    } catch (err) {
      this.written = undefined;
      end();
      throw err;
    }
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      this.written = undefined;
      end();
    };
    return {
      append: (topic, partition, records) => {
        written.add(`${topic}\0${partition}`);
        return txn.append(topic, partition, records);
      },
      ...(txn.appendBuffer === undefined
        ? {}
        : {
            appendBuffer: (topic: string, partition: number, records: RecordBuffer) => {
              written.add(`${topic}\0${partition}`);
              return (txn.appendBuffer as NonNullable<LogTransaction['appendBuffer']>).call(
                txn,
                topic,
                partition,
                records,
              );
            },
          }),
      commit: async () => {
        try {
          await txn.commit();
        } finally {
          finish();
        }
      },
      abort: async () => {
        try {
          await txn.abort();
        } finally {
          finish();
        }
      },
    };
  };

  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
