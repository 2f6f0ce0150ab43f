/**
 * Interactive queries of stores that live on task threads. `StoreQueries` (control/store-queries.ts)
 * reads stores synchronously, in one turn of the main thread's event loop; a thread's store is
 * read the same way through a proxy `StoreOpenEvent` whose calls are synchronous round trips:
 *
 * - the main thread posts the query on the thread's query port and blocks in `Atomics.wait` on one
 *   shared Int32 (at most `QUERY_TIMEOUT_MS`, then `UnavailableError`, retriable);
 * - the thread answers from its own event loop (a task thread never blocks on the main thread, so
 *   it is free to answer whenever it is between two messages), posts the answer and signals;
 * - the main thread takes the answer off the port with `receiveMessageOnPort`.
 *
 * A key lookup is one round trip; a range is read a page of `RANGE_PAGE` entries at a time (each
 * page one consistent read of the partition; the pages of one answer are not one cut, unlike on one
 * thread). While the main thread waits, the log owner answers no thread: queries are rare and
 * short, and a stalled owner only delays the threads.
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { Entry } from '../../store/types.js';
import { UnavailableError } from '../../util/errors.js';
import type { QueryableBytes, StoreOpenEvent } from '../control/store-queries.js';
import { deserializeError, type SerializedError, serializeError } from './thread-protocol.js';

export const QUERY_TIMEOUT_MS = 5000;
const RANGE_PAGE = 1000;

type Query =
  | { id: number; op: 'get'; name: string; partition: number; key: Uint8Array }
  | {
      id: number;
      op: 'range';
      name: string;
      partition: number;
      from: Uint8Array | undefined;
      to: Uint8Array | undefined;
    }
  | { id: number; op: 'position'; name: string; partition: number };

type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/** Thread side: answers the main thread's queries of `stores` (`name/partition` → open store). */
export function answerQueries(
  port: MessagePort,
  signal: SharedArrayBuffer,
  stores: ReadonlyMap<string, StoreOpenEvent>,
): () => void {
  const flag = new Int32Array(signal);
  const onMessage = (q: Query) => {
    let answer: Answer;
    try {
      answer = { id: q.id, ok: true, value: answer1(q, stores) };
    } catch (err) {
      answer = { id: q.id, ok: false, error: serializeError(err) };
    }
    port.postMessage(answer);
    Atomics.store(flag, 0, q.id);
    Atomics.notify(flag, 0);
  };
  port.on('message', onMessage);
  return () => port.off('message', onMessage);
}

function answer1(q: Query, stores: ReadonlyMap<string, StoreOpenEvent>): unknown {
  const e = stores.get(`${q.name}/${q.partition}`);
  if (e === undefined) {
    throw new UnavailableError(
      `partition ${q.partition} of store "${q.name}" is not open (the job is stopping)`,
    );
  }
  if (q.op === 'get') return e.store.bytes.get(q.key);
  if (q.op === 'position') return { position: e.store.changelogPosition(), lastOffset: e.sink?.lastOffset };
  const it = e.store.bytes.range(q.from, q.to);
  try {
    const entries: Entry<Uint8Array, Uint8Array>[] = [];
    for (let r = it.next(); !r.done; r = it.next()) {
      entries.push({ key: r.value.key, value: r.value.value });
      if (entries.length >= RANGE_PAGE) break;
    }
    return entries;
  } finally {
    it.close();
  }
}

/** Main side: synchronous calls to one thread's `answerQueries`. */
export class QueryChannel {
  private nextId = 1;
  private readonly flag: Int32Array;
  private closed = false;

  constructor(
    private readonly port: MessagePort,
    signal: SharedArrayBuffer,
    private readonly label: string,
  ) {
    this.flag = new Int32Array(signal);
  }

  call<T>(q: Query extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never): T {
    if (this.closed)
      throw new UnavailableError(`${this.label} has stopped; its stores are no longer answered`);
    const id = this.nextId++;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ ...q, id });
    const deadline = performance.now() + QUERY_TIMEOUT_MS;
    for (;;) {
      const m = receiveMessageOnPort(this.port)?.message as Answer | undefined;
      if (m !== undefined) {
        if (m.id !== id) continue; // the late answer of a query that timed out
        if (m.ok) return m.value as T;
        throw deserializeError(m.error);
      }
      const left = deadline - performance.now();
      if (left <= 0) break;
      Atomics.wait(this.flag, 0, 0, left);
      Atomics.store(this.flag, 0, 0);
    }
    throw new UnavailableError(
      `${this.label} did not answer a store query within ${QUERY_TIMEOUT_MS} ms (busy in a long process() call?); try again`,
    );
  }

  close(): void {
    this.closed = true;
    this.port.close();
  }
}

/** The `store-open` event of a store on a thread, for `StoreQueries.add`. */
export function proxyStoreOpen(
  channel: QueryChannel,
  e: { name: string; partition: number; restoring: boolean; sink: boolean },
): StoreOpenEvent {
  const { name, partition } = e;
  const position = () =>
    channel.call<{
      position: { offset: number; clean: boolean } | undefined;
      lastOffset: number | undefined;
    }>({
      op: 'position',
      name,
      partition,
    });
  const bytes: QueryableBytes = {
    get: (key) => channel.call<Uint8Array | undefined>({ op: 'get', name, partition, key }),
    range: (from, to) => pagedRange(channel, name, partition, from, to),
  };
  return {
    name,
    partition,
    restoring: e.restoring,
    store: { bytes, changelogPosition: () => position().position },
    sink: e.sink
      ? {
          get lastOffset() {
            return position().lastOffset ?? -1;
          },
        }
      : undefined,
  };
}

function pagedRange(
  channel: QueryChannel,
  name: string,
  partition: number,
  from: Uint8Array | undefined,
  to: Uint8Array | undefined,
): Iterator<Entry<Uint8Array, Uint8Array>> & { close(): void } {
  let page: Entry<Uint8Array, Uint8Array>[] = [];
  let index = 0;
  let next = from;
  let done = false;
  return {
    next(): IteratorResult<Entry<Uint8Array, Uint8Array>> {
      if (index >= page.length) {
        if (done) return { done: true, value: undefined };
        page = channel.call<Entry<Uint8Array, Uint8Array>[]>({
          op: 'range',
          name,
          partition,
          from: next,
          to,
        });
        index = 0;
        if (page.length < RANGE_PAGE) done = true;
        else {
          // the next page starts just after the last key: the key followed by a zero byte
          const last = page[page.length - 1].key;
          const after = new Uint8Array(last.length + 1);
          after.set(last);
          next = after;
        }
        if (page.length === 0) return { done: true, value: undefined };
      }
      return { done: false, value: page[index++] };
    },
    close() {
      done = true;
      page = [];
    },
  };
}
