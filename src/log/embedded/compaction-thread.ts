/**
 * The compaction thread: one `worker_threads` worker per process that does the heavy work of the
 * embedded log's compaction passes (mapping keys and rewriting segments, `compaction-work.ts`), so
 * a pass never holds the event loop of the job that owns the log, as Kafka's log cleaner runs in
 * the broker rather than in its clients. The pass itself (which segments, the swaps, the cleaner
 * checkpoint) stays with the partition's owner in `compactor.ts`.
 *
 * Lifecycle: the worker starts on the first request, keeps the process alive only while a request
 * is in flight, and stops after `IDLE_MS` without one (the next request starts it again). A worker
 * that dies fails its in-flight requests and is replaced on the next request. From the TypeScript
 * sources (tsx) the worker loads `compaction-worker.ts` through tsx as well.
 */
import type { Worker } from 'node:worker_threads';
import { AbortedError, CorruptLogError, InvalidArgumentError } from '../../util/errors.js';
import { startWorker } from '../../util/worker-entry.js';
import type {
  CleanGroupRequest,
  CleanGroupResult,
  MapKeysRequest,
  MapKeysResult,
} from './compaction-work.js';

/** Idle time after which the worker stops. */
const IDLE_MS = 10_000;

export type WorkerRequest =
  | { id: number; op: 'map'; pass: number; abort: Int32Array; request: MapKeysRequest }
  | { id: number; op: 'clean'; pass: number; abort: Int32Array; request: CleanGroupRequest }
  /** Frees the pass's key map; posted without waiting, the worker does not reply. */
  | { op: 'end'; pass: number };

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { name: string; message: string; code: string | undefined } };

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/** The worker's error as a typed error of this thread. */
function rebuildError(e: { name: string; message: string; code: string | undefined }): Error {
  switch (e.name) {
    case 'CorruptLogError':
      return new CorruptLogError(e.message);
    case 'AbortedError':
      return new AbortedError(e.message);
    case 'InvalidArgumentError':
      return new InvalidArgumentError(e.message);
    default: {
      const err = new Error(`compaction thread: ${e.message}`);
      if (e.code !== undefined) Object.assign(err, { code: e.code });
      return err;
    }
  }
}

class CompactionThread {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;
  #nextPass = 1;
  #idle: NodeJS.Timeout | undefined;

  newPassId(): number {
    return this.#nextPass++;
  }

  request(msg: DistributiveOmit<Exclude<WorkerRequest, { op: 'end' }>, 'id'>): Promise<unknown> {
    const worker = this.#ensure();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref();
      clearTimeout(this.#idle);
      worker.postMessage({ ...msg, id });
    });
  }

  /** Frees a pass's key map, if the worker that holds it is still running (no reply, no new worker). */
  endPass(pass: number): void {
    this.#worker?.postMessage({ op: 'end', pass } satisfies WorkerRequest);
  }

  #ensure(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = startWorker(import.meta.url, 'compaction-worker');
    worker.unref();
    worker.on('message', (reply: WorkerReply) => this.#settle(reply));
    worker.on('error', (err) => this.#failAll(worker, err));
    worker.on('exit', (code) =>
      this.#failAll(worker, new Error(`compaction thread exited (code ${code}) during a pass`)),
    );
    this.#worker = worker;
    return worker;
  }

  #settle(reply: WorkerReply): void {
    const waiter = this.#pending.get(reply.id);
    if (waiter === undefined) return;
    this.#pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(rebuildError(reply.error));
    if (this.#pending.size === 0) this.#goIdle();
  }

  #goIdle(): void {
    const worker = this.#worker;
    if (worker === undefined) return;
    worker.unref();
    this.#idle = setTimeout(() => {
      if (this.#worker !== worker || this.#pending.size > 0) return;
      this.#worker = undefined;
      void worker.terminate();
    }, IDLE_MS);
    this.#idle.unref();
  }

  #failAll(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    clearTimeout(this.#idle);
    const waiters = [...this.#pending.values()];
    this.#pending.clear();
    for (const w of waiters) w.reject(err);
  }
}

const thread = new CompactionThread();

/**
 * One compaction pass on the compaction thread: `mapKeys` once, then `clean` for each group, then
 * `end` (always, it frees the key map). `abort()` makes the running and later requests fail with
 * `AbortedError` at the next batch boundary.
 */
export class CompactionPass {
  readonly #id = thread.newPassId();
  readonly #abort = new Int32Array(new SharedArrayBuffer(4));

  mapKeys(request: MapKeysRequest): Promise<MapKeysResult> {
    return thread.request({
      op: 'map',
      pass: this.#id,
      abort: this.#abort,
      request,
    }) as Promise<MapKeysResult>;
  }

  clean(request: CleanGroupRequest): Promise<CleanGroupResult> {
    return thread.request({
      op: 'clean',
      pass: this.#id,
      abort: this.#abort,
      request,
    }) as Promise<CleanGroupResult>;
  }

  abort(): void {
    Atomics.store(this.#abort, 0, 1);
  }

  get aborted(): boolean {
    return Atomics.load(this.#abort, 0) !== 0;
  }

  end(): void {
    thread.endPass(this.#id);
  }
}
