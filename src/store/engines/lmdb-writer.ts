/**
 * The lmdb writer thread: one `worker_threads` worker per thread that has lmdb stores, which runs
 * their background writes (`LmdbEngine.writeInBackground`): the B+tree inserts, the copy-on-write
 * of the pages they touch and the commit's fsync, which otherwise hold the job's event loop for
 * the whole transaction (~0.7 s per 100k random keys into a 1M-key store on this project's test
 * machine). The worker opens each store's environment itself (lmdb-js shares one LMDB environment
 * between the threads of a process; LMDB allows one write transaction at a time and readers never
 * block), so the job's thread keeps reading the last committed state while a write runs.
 *
 * A request carries one `SpanBatch` (transferred, not copied) and a status word in shared memory,
 * set and notified by the worker when the transaction is over (`WRITE_OK` or `WRITE_FAILED`, with
 * the error's message), so the caller can also wait for it synchronously (`Atomics.wait`); the
 * reply message settles the request's promise.
 *
 * Lifecycle: the worker starts with the first request and stops once no store uses it (every store
 * that wrote through it released its environment on close); it keeps the process alive only while
 * a request is in flight (so a close that awaits a write is never cut short by the process ending).
 * A worker that dies fails every request in flight.
 */
import type { Worker } from 'node:worker_threads';
import { EngineError } from '../../util/errors.js';
import { startWorker } from '../../util/worker-entry.js';
import type { SpanBatch } from '../types.js';

/** The status word's values: the write is still running, committed, or failed (nothing written). */
export const WRITE_RUNNING = 0;
export const WRITE_OK = 1;
export const WRITE_FAILED = 2;
/** Room for the failure's message after the two status words. */
const MESSAGE_BYTES = 2048;

export type WriterRequest =
  | {
      readonly id: number;
      readonly op: 'write';
      readonly dir: string;
      readonly name: string;
      readonly mapSize: number | undefined;
      readonly batch: SpanBatch;
      readonly meta: Uint8Array | undefined;
      readonly status: Int32Array;
    }
  | { readonly id: number; readonly op: 'release'; readonly dir: string };

export type WriterReply =
  | { readonly id: number; readonly ok: true }
  | { readonly id: number; readonly ok: false; readonly message: string };

/** A status word (`[0]`: state, `[1]`: the message's length, then the message) in shared memory. */
export function newWriteStatus(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(8 + MESSAGE_BYTES));
}

/** The worker's side: records the outcome and wakes a synchronous waiter. */
export function setWriteStatus(status: Int32Array, failure: string | undefined): void {
  if (failure !== undefined) {
    const bytes = new Uint8Array(status.buffer, 8, MESSAGE_BYTES);
    const { written } = new TextEncoder().encodeInto(failure, bytes);
    Atomics.store(status, 1, written);
  }
  Atomics.store(status, 0, failure === undefined ? WRITE_OK : WRITE_FAILED);
  Atomics.notify(status, 0);
}

/**
 * How long a synchronous wait for one write may block: far past any real transaction (at most the
 * store's largest pending batch), so only a writer thread that died mid-write (its status word then
 * never changes) ends it, with an error instead of a hang.
 */
export const WRITE_WAIT_MS = 120_000;

/** Blocks until the write of `status` is over; returns its failure's message, or undefined. */
export function waitWriteStatus(status: Int32Array, timeoutMs = WRITE_WAIT_MS): string | undefined {
  const deadline = performance.now() + timeoutMs;
  while (Atomics.load(status, 0) === WRITE_RUNNING) {
    const left = deadline - performance.now();
    if (left <= 0) return `the lmdb writer thread did not finish the write within ${timeoutMs / 1000} s`;
    Atomics.wait(status, 0, WRITE_RUNNING, left);
  }
  if (Atomics.load(status, 0) === WRITE_OK) return undefined;
  // copied out first: TextDecoder does not read shared memory
  const bytes = new Uint8Array(status.buffer, 8, Atomics.load(status, 1)).slice();
  return new TextDecoder().decode(bytes);
}

type Waiter = { resolve(): void; reject(err: Error): void };

class LmdbWriterThread {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Waiter>();
  /** The store directories the worker holds an environment of. */
  readonly #dirs = new Set<string>();
  #nextId = 1;

  /** Runs `batch` and `meta` as one transaction on the worker; settles when it is committed. */
  write(
    request: Omit<Extract<WriterRequest, { op: 'write' }>, 'id' | 'op'>,
    transfer: ArrayBuffer[],
  ): Promise<void> {
    this.#dirs.add(request.dir);
    return this.#send({ ...request, op: 'write' }, transfer);
  }

  /** Closes the worker's environment of `dir` (after its writes); stops the worker when it was the last. */
  async release(dir: string): Promise<void> {
    if (!this.#dirs.delete(dir) || this.#worker === undefined) return;
    try {
      await this.#send({ op: 'release', dir }, []);
    } finally {
      this.#stopWhenUnused();
    }
  }

  #send(msg: Omit<WriterRequest, 'id'>, transfer: ArrayBuffer[]): Promise<void> {
    const worker = this.#ensure();
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage({ ...msg, id }, transfer);
    });
  }

  #ensure(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = startWorker(import.meta.url, 'lmdb-writer-worker');
    worker.unref();
    worker.on('message', (reply: WriterReply) => this.#settle(reply));
    worker.on('error', (err) => this.#failAll(worker, err));
    worker.on('exit', (code) =>
      this.#failAll(worker, new Error(`the lmdb writer thread exited (code ${code})`)),
    );
    this.#worker = worker;
    return worker;
  }

  #settle(reply: WriterReply): void {
    const waiter = this.#pending.get(reply.id);
    if (waiter === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker?.unref();
    if (reply.ok) waiter.resolve();
    else waiter.reject(new EngineError(reply.message));
  }

  #stopWhenUnused(): void {
    const worker = this.#worker;
    if (worker === undefined || this.#dirs.size > 0 || this.#pending.size > 0) return;
    this.#worker = undefined;
    void worker.terminate();
  }

  #failAll(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#dirs.clear();
    const waiters = [...this.#pending.values()];
    this.#pending.clear();
    for (const w of waiters)
      w.reject(new EngineError(`the lmdb writer thread failed: ${err.message}`, { cause: err }));
  }
}

/** This thread's writer (each thread with lmdb stores has its own). */
export const lmdbWriter = new LmdbWriterThread();
