/**
 * The control socket of the process that owns a data directory (`eddy run`, `eddy demo
 * --data-dir`): a Unix socket `<dataDir>/control.sock`, mode 0600 (only its user can connect),
 * through which the shell tools reach a running job — `eddy produce` and `topics create|delete`
 * write through the owner's log (so the embedded log keeps one writer, with its atomicity and
 * durability), and `eddy store get|range|dump|stats` read the job's stores through the job itself
 * (never by opening its engine files from a second process). Reads of the log (`consume`,
 * `topics list|describe`) need no socket: they open the log as a read-only follower.
 *
 * Frames: `control-protocol.ts`. Operations (request header `op`):
 * - `hello` → `{ pid, job, log }`;
 * - `topics.create { name, config }` → the `TopicInfo`; `topics.delete { name }`;
 * - `topics.compact { name }` → `{ partitions: CompactionResult[] }` (embedded log: compacts every
 *   partition now, taking turns with the log's own compaction); `topics.truncate { name,
 *   partition, offset, confirm }` → `{ what, done }` (log/truncate-topic.ts: only with `confirm`);
 * - `append { topic }` + records payload → `{ partitions: [{ partition, count, first, last }] }`:
 *   every partition is checked first, then all records go in as one unit (`appendAll`: one
 *   transaction) — a bad request writes nothing;
 * - `store.get { job, store, key, partition?, all? }` → `{ answers }` (the partitioner's partition,
 *   the one given, or with `all` every open one), `store.range { job, store, from?, to?, limit,
 *   partitions? }`, `store.partitions { job, store }`, `store.stats { job, store }`: keys and values as base64 bytes, with the
 *   partition state of `store-queries.ts`.
 *
 * Lifecycle: `start` removes a socket file left by a process that died (nothing answers on it;
 * the caller holds the data directory's lock, so no live process can be serving it), listens with
 * a umask that makes the socket 0600 from its creation, and `close` stops listening, ends every
 * connection and removes the file. Errors travel as `{ code, message, retriable }`.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { appendAll } from '../../log/append-all.js';
import type { EmbeddedLog } from '../../log/embedded/embedded-log.js';
import { truncateTopicPartition } from '../../log/truncate-topic.js';
import type { AppendRecord, Log, TopicConfigInput } from '../../log/types.js';
import {
  ControlError,
  EddyError,
  InvalidArgumentError,
  LockedError,
  UnknownPartitionError,
} from '../../util/errors.js';
import type { Logger } from '../task.js';
import { decodeRecords, encodeFrame, FrameReader } from './control-protocol.js';
import { SharedLog } from './shared-log.js';
import type { StoreQueries } from './store-queries.js';

/** Linux's limit on a socket path (`sun_path`, 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** Where the control socket of a data directory lives. */
export function controlSocketPath(dataDir: string): string {
  return join(resolve(dataDir), 'control.sock');
}

export interface ControlServerOptions {
  dataDir: string;
  /** The log this process owns (its writes: topics, appends). */
  log?: Log;
  /** The running job's stores. */
  queries?: StoreQueries;
  logger?: Logger;
}

function isLive(path: string): Promise<boolean> {
  return new Promise((done) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

const b64 = (data: Uint8Array | undefined): string | null =>
  data === undefined ? null : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

function bytesArg(header: Record<string, unknown>, name: string): Buffer | undefined {
  const v = header[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw new InvalidArgumentError(`control request field "${name}" must be base64 text`);
  return Buffer.from(v, 'base64');
}

function stringArg(header: Record<string, unknown>, name: string): string {
  const v = header[name];
  if (typeof v !== 'string' || v === '') {
    throw new InvalidArgumentError(`control request "${String(header.op)}" needs a string "${name}"`);
  }
  return v;
}

export class ControlServer {
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly path: string,
    private readonly options: ControlServerOptions,
  ) {}

  /** Listens on `<dataDir>/control.sock`. The caller holds the data directory's lock. */
  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const path = controlSocketPath(options.dataDir);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new ControlError(
        `the control socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes (the limit of a Unix socket); use a shorter --data-dir for live shell tools`,
      );
    }
    if (existsSync(path)) {
      if (await isLive(path)) {
        throw new LockedError(
          `another process serves the control socket ${path}; is a second job running on ${options.dataDir}?`,
        );
      }
      unlinkSync(path); // left by a process that died
    }
    const server = createServer();
    const control = new ControlServer(server, path, options);
    server.on('connection', (s) => control.serve(s));
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      // bind() happens inside listen(): the umask makes the socket 0600 from its creation on
      const umask = process.umask(0o177);
      try {
        server.listen(path, () => {
          server.off('error', fail);
          done();
        });
      } finally {
        process.umask(umask);
      }
    });
    chmodSync(path, 0o600);
    server.on('error', (err) => options.logger?.error(`control socket ${path}: ${err.message}`));
    return control;
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    const reader = new FrameReader();
    let queue = Promise.resolve();
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      let frames: ReturnType<FrameReader['push']>;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        socket.end(encodeFrame({ ok: false, error: errorJson(err) }));
        return;
      }
      for (const frame of frames) {
        queue = queue.then(async () => {
          let response: Buffer;
          try {
            const result = await this.handle(frame.header, frame.payload);
            response = encodeFrame({ ok: true, result });
          } catch (err) {
            response = encodeFrame({ ok: false, error: errorJson(err) });
          }
          if (!socket.destroyed) socket.write(response);
        });
      }
    });
  }

  private async handle(header: Record<string, unknown>, payload: Buffer): Promise<unknown> {
    if (this.closing)
      throw new EddyError('EDDY_UNAVAILABLE', 'the process is shutting down', { retriable: true });
    const op = header.op;
    switch (op) {
      case 'hello':
        return {
          pid: process.pid,
          job: this.options.queries?.job.name ?? null,
          log: this.options.log !== undefined,
        };
      case 'topics.create':
        return this.log().createTopic(stringArg(header, 'name'), header.config as TopicConfigInput);
      case 'topics.delete':
        await this.log().deleteTopic(stringArg(header, 'name'));
        return {};
      case 'topics.compact': {
        const { compactTopic } = await import('../../log/embedded/compactor.js');
        return { partitions: await compactTopic(this.embeddedLog('compact'), stringArg(header, 'name')) };
      }
      case 'topics.truncate': {
        const int = (n: string): number => {
          const v = header[n];
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
            throw new InvalidArgumentError(`control request "topics.truncate" needs an integer "${n}" >= 0`);
          }
          return v;
        };
        return truncateTopicPartition(
          this.embeddedLog('truncate'),
          stringArg(header, 'name'),
          int('partition'),
          int('offset'),
          header.confirm === true,
        );
      }
      case 'append':
        return this.append(stringArg(header, 'topic'), payload);
      case 'store.get': {
        const q = this.queries(header);
        const key = bytesArg(header, 'key') ?? Buffer.alloc(0);
        const store = stringArg(header, 'store');
        const partitions =
          header.all === true
            ? q.openPartitions(store)
            : [typeof header.partition === 'number' ? header.partition : undefined];
        return {
          answers: partitions.map((p) => {
            const a = q.getBytes(store, key, p);
            return { ...a, key: b64(a.key), value: b64(a.value) };
          }),
        };
      }
      case 'store.range': {
        const q = this.queries(header);
        const a = q.range(stringArg(header, 'store'), {
          fromBytes: bytesArg(header, 'from'),
          toBytes: bytesArg(header, 'to'),
          limit: typeof header.limit === 'number' ? header.limit : undefined,
          partitions: Array.isArray(header.partitions) ? (header.partitions as number[]) : undefined,
        });
        return {
          ...a,
          entries: a.entries.map((e) => ({ partition: e.partition, key: b64(e.key), value: b64(e.value) })),
        };
      }
      case 'store.partitions':
        return { partitions: this.queries(header).openPartitions(stringArg(header, 'store')) };
      case 'store.stats':
        return this.queries(header).stats(stringArg(header, 'store'));
      default:
        throw new InvalidArgumentError(`unknown control operation ${JSON.stringify(op)}`);
    }
  }

  private log(): Log {
    const log = this.options.log;
    if (log === undefined) throw new InvalidArgumentError('this process serves no log on its control socket');
    return log;
  }

  /** The embedded log below the shared one (compaction and truncation are not transactions). */
  private embeddedLog(what: string): EmbeddedLog {
    const log = this.log();
    const inner = log instanceof SharedLog ? log.inner : log;
    if (inner.backend !== 'embedded') {
      throw new InvalidArgumentError(
        `"eddy topics ${what}" is for the embedded log; this process runs on ${inner.backend}`,
      );
    }
    return inner as EmbeddedLog;
  }

  private queries(header: Record<string, unknown>): StoreQueries {
    const q = this.options.queries;
    const job = stringArg(header, 'job');
    if (q === undefined || q.job.name !== job) {
      throw new InvalidArgumentError(
        `this process (pid ${process.pid}) runs ${q === undefined ? 'no job' : `job "${q.job.name}"`}, not job "${job}"`,
      );
    }
    return q;
  }

  private async append(topic: string, payload: Buffer): Promise<unknown> {
    const log = this.log();
    const records = decodeRecords(payload);
    const { config } = await log.describeTopic(topic);
    const byPartition = new Map<number, AppendRecord[]>();
    for (const r of records) {
      if (r.partition >= config.partitions) {
        throw new UnknownPartitionError(topic, r.partition, config.partitions);
      }
      let list = byPartition.get(r.partition);
      if (list === undefined) byPartition.set(r.partition, (list = []));
      const { partition: _, ...record } = r;
      list.push(record);
    }
    const results = await appendAll(log, topic, byPartition);
    return { partitions: [...results].map(([partition, r]) => ({ partition, ...r })) };
  }

  /** Stops listening, ends every connection, removes the socket file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((done) => {
      this.server.close(() => done());
      for (const s of this.sockets) s.destroy();
      try {
        unlinkSync(this.path);
      } catch {}
    });
    return this.closing;
  }
}

function errorJson(err: unknown): { code: string; message: string; retriable: boolean } {
  if (err instanceof EddyError) return { code: err.code, message: err.message, retriable: err.retriable };
  return {
    code: 'EDDY_CONTROL',
    message: `unexpected error: ${(err as Error)?.message ?? String(err)}`,
    retriable: false,
  };
}
