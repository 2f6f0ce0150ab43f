/**
 * The log owner: the one holder of a process's `Log` (embedded or Kafka) when tasks run on worker
 * threads. It serves each task thread's `ThreadLog` over a `MessagePort` (thread-protocol.ts):
 * topic calls, reads (answered with one transferred buffer of encoded records per read), appends
 * (one transferred buffer per partition flush), `waitForData` (cancellable), and transactions.
 *
 * - Transactions take turns on the embedded and memory logs, which have one open transaction at a
 *   time: the owner wraps them in a `SharedLog` (control/shared-log.ts), so the threads' commits —
 *   one transaction per thread per commit — are serialised, as are the control socket's writes.
 *   Kafka keeps one open transaction per transactional id: its log is used as it is.
 * - After `fail()` (a thread reported a task failure under `onError: 'fail'`, or a thread died) the
 *   owner refuses every write (appends, transactions and their commits) with a `JobError`: nothing
 *   is committed past a failure by any thread. Reads and waits go on, so threads can stop cleanly.
 * - `detach(port)` (a thread ended or died) aborts the transactions that thread left open (its
 *   turn is handed on, never held by a dead thread) and ends its waits; `close()` detaches all.
 *   The owner never closes the log itself: its opener does.
 */
import type { MessagePort } from 'node:worker_threads';
import { appendBuffered, RecordBuffer } from '../../log/record-buffer.js';
import type { Log, LogTransaction, RecordBatches, TopicConfigInput } from '../../log/types.js';
import { EddyError, JobError } from '../../util/errors.js';
import { SharedLog } from '../control/shared-log.js';
import { decodeAppends, encodeRecords } from './record-frames.js';
import {
  deserializeError,
  type EncodedAppend,
  type LogAnswer,
  type LogRequest,
  type SlotBatches,
  serializeError,
} from './thread-protocol.js';
import type { TransferSlots } from './transfer-slots.js';

interface Client {
  readonly port: MessagePort;
  readonly label: string;
  /** The thread's transfer slots, if it lends any (the embedded log). */
  readonly slots: TransferSlots | undefined;
  readonly txns: Map<number, LogTransaction>;
  /** Reads and appends of this thread whose bytes were transferred although it lends slots. */
  transfers: number;
  readonly waits: Map<number, AbortController>;
  readonly onMessage: (m: LogRequest) => void;
}

export class LogOwner {
  /** The log the threads use: the given one, with transactions taking turns (SharedLog) but on Kafka. */
  readonly log: Log;
  private readonly clients = new Map<MessagePort, Client>();
  private nextTxn = 1;
  private failure: Error | undefined;
  private detachedTransfers = 0;

  constructor(log: Log) {
    this.log = log instanceof SharedLog || log.backend === 'kafka' ? log : new SharedLog(log);
  }

  /** The failure reported first, if any: writes are refused from then on. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /**
   * Serves the `ThreadLog` at the other end of `port` (`label` names it in errors, e.g. "thread 1"),
   * which may lend `slots` for its reads' and appends' bytes.
   */
  attach(port: MessagePort, label: string, slots?: TransferSlots): void {
    const client: Client = {
      port,
      label,
      slots,
      txns: new Map(),
      transfers: 0,
      waits: new Map(),
      onMessage: (m) => this.handle(client, m),
    };
    this.clients.set(port, client);
    port.on('message', client.onMessage);
  }

  /** Stops serving `port`: aborts the transactions it left open, ends its waits. Idempotent. */
  async detach(port: MessagePort): Promise<void> {
    const client = this.clients.get(port);
    if (client === undefined) return;
    this.clients.delete(port);
    this.detachedTransfers += client.transfers;
    port.off('message', client.onMessage);
    for (const w of client.waits.values()) w.abort();
    client.waits.clear();
    const open = [...client.txns.values()];
    client.txns.clear();
    for (const txn of open) await txn.abort().catch(() => undefined);
  }

  /**
   * Reads and appends whose bytes were transferred though their thread lends transfer slots: the
   * slots were all lent, or the bytes did not fit one. Each is memory the owner's isolate has to
   * collect, so a steady count means the threads lend too few slots.
   */
  get transfers(): number {
    let n = 0;
    for (const c of this.clients.values()) n += c.transfers;
    return n + this.detachedTransfers;
  }

  /** Refuses every later write and commit, of every thread (the first failure is kept). */
  fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
  }

  async close(): Promise<void> {
    for (const port of [...this.clients.keys()]) await this.detach(port);
  }

  private refuse(client: Client, what: string): void {
    if (this.failure === undefined) return;
    throw new JobError(
      `${client.label}: ${what} refused: the job failed (${this.failure.message}); nothing is committed past a failure`,
      { cause: this.failure },
    );
  }

  private handle(client: Client, m: LogRequest): void {
    let result: Promise<unknown> | unknown;
    try {
      result = this.call(client, m);
    } catch (err) {
      result = Promise.reject(err);
    }
    Promise.resolve(result).then(
      (value) => {
        if (!this.clients.has(client.port)) return;
        let answer = value;
        let transfer: ArrayBuffer[] | undefined;
        if (value instanceof ArrayBuffer) transfer = [value];
        else if (m.op === 'readBatches') {
          const b = value as RecordBatches;
          if (m.slot !== undefined && b.buffer === client.slots?.memory) {
            client.slots.publish(m.slot, b.length);
            answer = { slot: m.slot, length: b.length, from: b.from, until: b.until } satisfies SlotBatches;
          } else {
            transfer = [b.buffer as ArrayBuffer];
            if (client.slots !== undefined) client.transfers++;
          }
        }
        client.port.postMessage({ id: m.id, ok: true, value: answer } satisfies LogAnswer, transfer);
      },
      (err: unknown) => {
        if (!this.clients.has(client.port)) return;
        client.port.postMessage({ id: m.id, ok: false, error: serializeError(err) } satisfies LogAnswer);
      },
    );
  }

  private call(client: Client, m: LogRequest): Promise<unknown> | unknown {
    const log = this.log;
    switch (m.op) {
      case 'read':
        return log
          .read(m.topic, m.partition, m.offset, { maxRecords: m.maxRecords, maxBytes: m.maxBytes })
          .then(encodeRecords);
      case 'append':
        this.refuse(client, `append to ${m.topic}/${m.partition}`);
        return log.append(m.topic, m.partition, decodeAppends(m.records));
      case 'readBatches':
        if (!log.readBatches) throw new JobError(`the ${log.backend} log cannot read whole batches`);
        return log.readBatches(m.topic, m.partition, m.offset, {
          maxRecords: m.maxRecords,
          maxBytes: m.maxBytes,
          into: m.slot === undefined ? undefined : client.slots?.bytes(m.slot),
        });
      case 'appendEncoded':
        this.refuse(client, `append to ${m.topic}/${m.partition}`);
        return appendBuffered(log, m.topic, m.partition, this.encoded(client, m.records));
      case 'wait': {
        const abort = new AbortController();
        client.waits.set(m.id, abort);
        return log
          .waitForData(m.topic, m.partition, m.offset, m.timeoutMs, abort.signal)
          .finally(() => client.waits.delete(m.id));
      }
      case 'cancel':
        client.waits.get(m.target)?.abort();
        return undefined;
      case 'earliestOffset':
        return log.earliestOffset(m.topic, m.partition);
      case 'endOffset':
        return log.endOffset(m.topic, m.partition);
      case 'describeTopic':
        return log.describeTopic(m.name);
      case 'listTopics':
        return log.listTopics();
      case 'createTopic':
        return log.createTopic(m.name, m.config as TopicConfigInput);
      case 'ensureTopic':
        return log.ensureTopic(m.name, m.config as TopicConfigInput);
      case 'deleteTopic':
        return log.deleteTopic(m.name);
      case 'flush':
        return log.flush();
      case 'truncate':
        this.refuse(client, `truncate of ${m.topic}/${m.partition}`);
        if (!log.truncate) throw new JobError(`the ${log.backend} log cannot truncate`);
        return log.truncate(m.topic, m.partition, m.offset);
      case 'holdCompaction':
        return log.holdCompaction?.(m.topic, m.partition, m.offset);
      case 'begin':
        return this.begin(client, m.txnId);
      case 'txnAppend': {
        const txn = this.txn(client, m.txn);
        this.refuse(client, `transactional append to ${m.topic}/${m.partition}`);
        return txn.append(m.topic, m.partition, decodeAppends(m.records));
      }
      case 'txnAppendEncoded': {
        const txn = this.txn(client, m.txn);
        this.refuse(client, `transactional append to ${m.topic}/${m.partition}`);
        return appendBuffered(txn, m.topic, m.partition, this.encoded(client, m.records));
      }
      case 'txnCommit': {
        const txn = this.txn(client, m.txn);
        client.txns.delete(m.txn);
        if (this.failure !== undefined) {
          return txn.abort().then(() => this.refuse(client, 'commit'));
        }
        return txn.commit();
      }
      case 'txnAbort': {
        const txn = this.txn(client, m.txn);
        client.txns.delete(m.txn);
        return txn.abort();
      }
      case 'fail':
        this.fail(deserializeError(m.error));
        return undefined;
    }
  }

  /** An encoded append's records, from its transferred buffer or from the thread's slot. */
  private encoded(client: Client, records: EncodedAppend): RecordBuffer {
    if ('buffer' in records) {
      if (client.slots !== undefined) client.transfers++;
      return RecordBuffer.fromEncoded(records);
    }
    const slots = client.slots;
    if (slots === undefined) throw new EddyError('EDDY_INTERNAL', `${client.label} lends no transfer slots`);
    // the log is done with the bytes when the append returns: the slot is the thread's again then
    return RecordBuffer.fromEncoded(records, slots.bytes(records.slot, slots.acquire(records.slot)));
  }

  private async begin(client: Client, id: string | undefined): Promise<number> {
    this.refuse(client, 'transaction');
    if (!this.log.beginTransaction) throw new JobError(`the ${this.log.backend} log has no transactions`);
    const txn = await this.log.beginTransaction(id === undefined ? undefined : { id });
    if (!this.clients.has(client.port) || this.failure !== undefined) {
      // the thread went away (or the job failed) while it waited for its turn
      await txn.abort().catch(() => undefined);
      this.refuse(client, 'transaction');
      throw new JobError(`${client.label} went away`);
    }
    const handle = this.nextTxn++;
    client.txns.set(handle, txn);
    return handle;
  }

  private txn(client: Client, handle: number): LogTransaction {
    const txn = client.txns.get(handle);
    if (txn === undefined)
      throw new EddyError('EDDY_INTERNAL', `${client.label}: no open transaction ${handle}`);
    return txn;
  }
}
