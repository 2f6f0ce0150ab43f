/**
 * A task thread (the worker entry of `ThreadedContainer`): loads the job module the way the main
 * thread did (job-module.ts), and runs a plain `Container` over the thread's partitions on a
 * `ThreadLog`, whose every call goes to the log owner on the main thread. The container is the same
 * code as with one thread; only its log is remote.
 *
 * Talks to the main thread over three channels:
 * - `parentPort`: calls `start`, `run`, `commit`, `close` (each answered by id, with the latest
 *   metrics snapshot), `stop` (asks the run loop to commit and return); and from here `event`s
 *   (restore progress, store open/close, commit durations), `log` lines, and a metrics snapshot
 *   every 250 ms.
 * - the log port, served by the log owner (thread-log.ts);
 * - the query port, answered synchronously for the main thread's store queries (store-proxy.ts).
 *
 * A run that fails is reported to the log owner first (it refuses every later commit, of every
 * thread), then answered as failed.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { LogSupports } from '../../log/types.js';
import { JobError } from '../../util/errors.js';
import { Container, type ContainerMetrics, type TaskView } from '../container.js';
import type { StoreOpenEvent } from '../control/store-queries.js';
import { findJob, importModule } from '../job-module.js';
import type { Logger } from '../task.js';
import { answerQueries } from './store-proxy.js';
import { ThreadLog } from './thread-log.js';
import { serializeError } from './thread-protocol.js';
import { type SharedSlots, TransferSlots } from './transfer-slots.js';

/** What a task thread is started with (`workerData`). */
export interface TaskThreadData {
  readonly jobModule: string;
  readonly thread: number;
  readonly partitions: number[];
  readonly dataDir: string;
  readonly batchSize?: number;
  readonly fetchSize?: number;
  readonly maxBufferedOutputs?: number;
  /** Exactly-once per task (Kafka): each partition's transactional id. */
  readonly transactionalIds?: Record<number, string>;
  readonly backend: 'embedded' | 'memory' | 'kafka';
  readonly supports: LogSupports;
  /** The owner's log takes and gives encoded batches (`Log.appendBuffer`, `Log.readBatches`). */
  readonly encodedBatches: boolean;
  /** The owner's log has `holdCompaction` (the embedded log). */
  readonly holdsCompaction: boolean;
  /** With `encodedBatches`: the transfer slots this thread lends the owner (transfer-slots.ts). */
  readonly slots?: SharedSlots;
  readonly logPort: MessagePort;
  readonly queryPort: MessagePort;
  /** One Int32 the query answers are signalled on (store-proxy.ts). */
  readonly querySignal: SharedArrayBuffer;
}

/** A snapshot of the thread's container for the main thread's `metrics()` and views. */
export interface ThreadSnapshot {
  readonly metrics: ContainerMetrics;
  readonly tasks: TaskView[];
  readonly stores: { store: string; partition: number; metrics: object; latency: object }[];
}

export type ToMain =
  | { type: 'reply'; id: number; ok: true; value?: unknown; snapshot?: ThreadSnapshot }
  | {
      type: 'reply';
      id: number;
      ok: false;
      error: ReturnType<typeof serializeError>;
      snapshot?: ThreadSnapshot;
    }
  | { type: 'event'; name: string; payload: unknown }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> }
  | { type: 'snapshot'; snapshot: ThreadSnapshot };

export type ToThread =
  | { type: 'call'; id: number; op: 'start' | 'commit' }
  | { type: 'call'; id: number; op: 'run'; untilCaughtUp?: boolean }
  | { type: 'call'; id: number; op: 'close'; commit: boolean }
  | { type: 'stop' };

async function main(): Promise<void> {
  const data = workerData as TaskThreadData;
  const port = parentPort as NonNullable<typeof parentPort>;
  const send = (m: ToMain) => port.postMessage(m);
  const line = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => {
    try {
      send({ type: 'log', level, message, fields: plain(fields) });
    } catch {
      // fields that cannot be cloned (a nested function, …): their JSON text instead
      send({ type: 'log', level, message, fields: { fields: safeJson(fields) } });
    }
  };
  const logger: Logger = {
    info: (message, fields) => line('info', message, fields),
    warn: (message, fields) => line('warn', message, fields),
    error: (message, fields) => line('error', message, fields),
  };
  const mod = await importModule(data.jobModule);
  const job = findJob(mod);
  if (job === undefined) throw new JobError(`job module ${data.jobModule} has no job export`);
  const log = new ThreadLog(
    data.logPort,
    data.backend,
    data.supports,
    data.encodedBatches,
    data.holdsCompaction,
    data.slots === undefined ? undefined : TransferSlots.of(data.slots),
  );
  const ids = data.transactionalIds;
  const container = new Container(job, {
    log,
    dataDir: data.dataDir,
    logger,
    partitions: data.partitions,
    batchSize: data.batchSize,
    fetchSize: data.fetchSize,
    maxBufferedOutputs: data.maxBufferedOutputs,
    transactionalId: ids === undefined ? undefined : (p) => ids[p],
    thread: data.thread,
  });
  const stores = new Map<string, StoreOpenEvent>();
  container.on('store-open', (e: StoreOpenEvent) => {
    stores.set(`${e.name}/${e.partition}`, e);
    send({
      type: 'event',
      name: 'store-open',
      payload: { name: e.name, partition: e.partition, restoring: e.restoring, sink: e.sink !== undefined },
    });
  });
  container.on('store-close', (e: { name: string; partition: number }) => {
    stores.delete(`${e.name}/${e.partition}`);
    send({ type: 'event', name: 'store-close', payload: e });
  });
  for (const name of ['restore', 'commit']) {
    container.on(name, (payload: unknown) => send({ type: 'event', name, payload }));
  }
  const stopQueries = answerQueries(data.queryPort, data.querySignal, stores);
  const snapshot = (): ThreadSnapshot => ({
    metrics: container.metrics(),
    tasks: container.taskViews(),
    stores: container.storeViews().map((s) => ({
      store: s.store,
      partition: s.partition,
      metrics: s.metrics(),
      latency: s.latency(),
    })),
  });
  const ticker = setInterval(() => send({ type: 'snapshot', snapshot: snapshot() }), 250);
  const calls: Record<string, (m: ToThread & { type: 'call' }) => Promise<unknown>> = {
    start: () => container.start(),
    commit: () => container.commit(),
    run: async (m) => {
      try {
        await container.run({ untilCaughtUp: (m as { untilCaughtUp?: boolean }).untilCaughtUp });
      } catch (err) {
        await log.reportFailure(err).catch(() => undefined);
        throw err;
      }
    },
    close: async (m) => {
      try {
        await container.close({ commit: (m as { commit: boolean }).commit });
      } finally {
        clearInterval(ticker);
        stopQueries();
        await log.close();
        data.logPort.close();
        data.queryPort.close();
        port.off('message', onMessage);
      }
    },
  };
  const onMessage = (m: ToThread) => {
    if (m.type === 'stop') {
      container.requestStop();
      return;
    }
    calls[m.op](m).then(
      (value) => send({ type: 'reply', id: m.id, ok: true, value, snapshot: snapshot() }),
      (err: unknown) =>
        send({ type: 'reply', id: m.id, ok: false, error: serializeError(err), snapshot: snapshot() }),
    );
  };
  port.on('message', onMessage);
  send({ type: 'event', name: 'loaded', payload: undefined });
}

/** Log fields as data that can cross threads (errors become their message). */
function plain(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] =
      v instanceof Error ? v.message : typeof v === 'function' || typeof v === 'symbol' ? String(v) : v;
  }
  return out;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

await main();
