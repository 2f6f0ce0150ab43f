/**
 * `ThreadLog`: the `Log` a task thread's container runs on. Every call goes to the log owner on the
 * main thread (log-owner.ts) over a `MessagePort`, as one request per call: a read comes back as one
 * transferred buffer of encoded records (decoded here into records whose bytes are views of it; on
 * the embedded log, its own batches as they are on disk), an
 * append goes as one transferred buffer (record-frames.ts), or as the bytes of a `RecordBuffer`
 * when the owner's log takes encoded batches (`appendBuffer`: no re-encoding on either side).
 * Errors come back as instances of their own class with their `code` (thread-protocol.ts).
 *
 * `waitForData`'s signal is honoured: an abort sends a cancel and resolves `false` at once.
 * `close()` stops this end only (the owner's log stays open): pending calls and later ones reject
 * with `LogClosedError`.
 */
import type { MessagePort } from 'node:worker_threads';
import { decodeBatches } from '../../log/embedded/record-batch.js';
import type { RecordBuffer } from '../../log/record-buffer.js';
import type {
  AppendRecord,
  AppendResult,
  Log,
  LogRecord,
  LogSupports,
  LogTransaction,
  ReadOptions,
  RecordBatches,
  TopicConfigInput,
  TopicInfo,
  TransactionOptions,
} from '../../log/types.js';
import { LogClosedError } from '../../util/errors.js';
import { decodeRecords, encodeRecords } from './record-frames.js';
import {
  deserializeError,
  type EncodedAppend,
  type LogAnswer,
  type LogRequest,
  type SlotBatches,
  serializeError,
} from './thread-protocol.js';
import type { TransferSlots } from './transfer-slots.js';

type Request = LogRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export class ThreadLog implements Log {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private readonly onMessage = (m: LogAnswer) => {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(deserializeError(m.error));
  };

  constructor(
    private readonly port: MessagePort,
    readonly backend: Log['backend'],
    readonly supports: LogSupports,
    /**
     * The owner's log has `appendBuffer` and `readBatches` (the embedded log): encoded records go
     * to it as they are, and reads come back as the log's own batches, decoded here.
     */
    private readonly encodedBatches = false,
    /** The owner's log has `holdCompaction` (the embedded log). */
    holdsCompaction = false,
    /** Slots this thread lends the owner for the bytes of its encoded reads and appends. */
    private readonly slots?: TransferSlots,
  ) {
    port.on('message', this.onMessage);
    if (!holdsCompaction) this.holdCompaction = undefined;
    if (!supports.truncate) this.truncate = undefined;
    if (!supports.transactions) this.beginTransaction = undefined;
    if (!encodedBatches) {
      this.appendBuffer = undefined;
      this.readBatches = undefined;
    }
  }

  private request<T>(m: Request, transfer?: ArrayBuffer[]): Promise<T> {
    if (this.closed) return Promise.reject(new LogClosedError('the thread log'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.postMessage({ ...m, id }, transfer);
    });
  }

  createTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    return this.request({ op: 'createTopic', name, config });
  }
  ensureTopic(name: string, config: TopicConfigInput): Promise<TopicInfo> {
    return this.request({ op: 'ensureTopic', name, config });
  }
  deleteTopic(name: string): Promise<void> {
    return this.request({ op: 'deleteTopic', name });
  }
  listTopics(): Promise<string[]> {
    return this.request({ op: 'listTopics' });
  }
  describeTopic(name: string): Promise<TopicInfo> {
    return this.request({ op: 'describeTopic', name });
  }

  append(topic: string, partition: number, records: readonly AppendRecord[]): Promise<AppendResult> {
    const buffer = encodeRecords(records);
    return this.request({ op: 'append', topic, partition, records: buffer }, [buffer]);
  }

  appendBuffer?: (topic: string, partition: number, records: RecordBuffer) => Promise<AppendResult> = (
    topic,
    partition,
    records,
  ) =>
    this.appendEncoded(records, (encoded) => ({ op: 'appendEncoded', topic, partition, records: encoded }));

  /**
   * Sends an encoded append built by `message` from the records: copied into a transfer slot when
   * they fit one and one is free (lent until the answer), else detached and transferred.
   */
  private async appendEncoded(
    records: RecordBuffer,
    message: (encoded: EncodedAppend) => Request,
  ): Promise<AppendResult> {
    const slots = this.slots;
    const slot = slots !== undefined && records.byteLength <= slots.slotBytes ? slots.take() : -1;
    if (slot < 0) {
      const encoded = records.detach();
      return this.request(message(encoded), [encoded.buffer]);
    }
    const s = slots as TransferSlots;
    try {
      const info = records.copyOut(s.bytes(slot));
      s.publish(slot, info.length);
      return await this.request(message({ ...info, slot }));
    } finally {
      s.release(slot);
    }
  }

  async read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<LogRecord[]> {
    if (this.encodedBatches) return decodeBatches(await this.fetchBatches(topic, partition, offset, options));
    const buffer = await this.request<ArrayBuffer>({
      op: 'read',
      topic,
      partition,
      offset,
      maxRecords: options?.maxRecords,
      maxBytes: options?.maxBytes,
    });
    return decodeRecords(buffer);
  }

  /** The owner's log's whole batches (the embedded log), for the thread to decode as it goes. */
  readBatches?: (
    topic: string,
    partition: number,
    offset: number,
    options?: ReadOptions,
  ) => Promise<RecordBatches> = (topic, partition, offset, options) =>
    this.fetchBatches(topic, partition, offset, options);

  /**
   * The owner's `readBatches`, into a transfer slot when one is free; the batches are then copied
   * out into a buffer of this thread's own, as the records' bytes are views of it (a task may keep
   * them), and the slot is free again at once.
   */
  private async fetchBatches(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions | undefined,
  ): Promise<RecordBatches> {
    const slots = this.slots;
    const slot = slots === undefined ? -1 : slots.take();
    const request = {
      op: 'readBatches' as const,
      topic,
      partition,
      offset,
      maxRecords: options?.maxRecords,
      maxBytes: options?.maxBytes,
      slot: slot < 0 ? undefined : slot,
    };
    if (slot < 0) return this.request<RecordBatches>(request);
    const s = slots as TransferSlots;
    try {
      const answer = await this.request<RecordBatches | SlotBatches>(request);
      if (!('slot' in answer)) return answer;
      const own = Buffer.allocUnsafeSlow(s.acquire(slot));
      s.bytes(slot, own.length).copy(own);
      return { buffer: own.buffer, length: own.length, from: answer.from, until: answer.until };
    } finally {
      s.release(slot);
    }
  }

  earliestOffset(topic: string, partition: number): Promise<number> {
    return this.request({ op: 'earliestOffset', topic, partition });
  }
  endOffset(topic: string, partition: number): Promise<number> {
    return this.request({ op: 'endOffset', topic, partition });
  }

  waitForData(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.closed) return Promise.reject(new LogClosedError('the thread log'));
    const id = this.nextId++;
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        if (!this.closed) this.port.postMessage({ id: this.nextId++, op: 'cancel', target: id });
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v as boolean);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      this.port.postMessage({ id, op: 'wait', topic, partition, offset, timeoutMs } satisfies LogRequest);
    });
  }

  truncate?: (topic: string, partition: number, offset: number) => Promise<void> = (
    topic,
    partition,
    offset,
  ) => this.request({ op: 'truncate', topic, partition, offset });

  holdCompaction?: (topic: string, partition: number, offset: number) => Promise<void> = (
    topic,
    partition,
    offset,
  ) => this.request({ op: 'holdCompaction', topic, partition, offset });

  beginTransaction?: (options?: TransactionOptions) => Promise<LogTransaction> = async (options) => {
    const txn = await this.request<number>({ op: 'begin', txnId: options?.id });
    return {
      append: (topic, partition, records) => {
        const buffer = encodeRecords(records);
        return this.request<AppendResult>({ op: 'txnAppend', txn, topic, partition, records: buffer }, [
          buffer,
        ]);
      },
      ...(this.appendBuffer === undefined
        ? {}
        : {
            appendBuffer: (topic: string, partition: number, records: RecordBuffer) =>
              this.appendEncoded(records, (encoded) => ({
                op: 'txnAppendEncoded',
                txn,
                topic,
                partition,
                records: encoded,
              })),
          }),
      commit: () => this.request<void>({ op: 'txnCommit', txn }),
      abort: () => this.request<void>({ op: 'txnAbort', txn }),
    };
  };

  /** Tells the owner that this thread's job failed: it refuses every later commit, of every thread. */
  reportFailure(error: unknown): Promise<void> {
    return this.request({ op: 'fail', error: serializeError(error) });
  }

  flush(): Promise<void> {
    return this.request({ op: 'flush' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.port.off('message', this.onMessage);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(new LogClosedError('the thread log'));
  }
}
