/**
 * `eddy run JOB --backend kafka`: this process is one worker of the job's consumer group (the Kafka
 * coordinator, runtime/kafka-coordinator.ts). The worker id — `--worker-id`, else `$EDDY_WORKER_ID`
 * (set by the supervisor to the worker's slot), else derived from the data dir — names the worker in
 * logs and client ids only: exactly-once fencing goes by task (`eddy-<job>-task-<p>`), not by worker.
 *
 * Lines on stderr (stable, tests and the supervisor read them):
 *   `generation G: tasks [..], standby [..] (worker ID)` (once the assignment is in effect: tasks
 *   restored and running, standbys tailing), `restored STORE/P: MODE N records in MS ms`,
 *   `warning: tasks [..] fenced (…); stopping them and rejoining`. With `--log-format` or
 *   `--log-level` the job's lines go through pino instead (JSON by default off a terminal).
 *
 * Operating a worker (issue 10): it serves `<data-dir>/control.sock` (`eddy store get|range|dump|stats`
 * read its tasks), and with `--http` the same endpoints as the embedded log. Its HTTP base URL goes
 * into its group join metadata, so any worker answers any key: a query of a partition another
 * worker owns is forwarded there (http/query-forwarding.ts, runtime/kafka-group/group-directory.ts).
 * Under the supervisor (`--workers N`), `--http HOST:PORT` with PORT > 0 gives worker i port PORT+i.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { JobMonitor } from '../http/job-monitor.js';
import type { HttpServer } from '../http/server.js';
import { v1Routes } from '../http/v1-routes.js';
import { openKafkaLog } from '../log/kafka/open-kafka-log.js';
import {
  type Endpoint,
  StoreQueries,
  type TaskDirectory,
  type TaskLocation,
} from '../runtime/control/index.js';
import type { JobDefinition } from '../runtime/job.js';
import type { RestoreResult } from '../runtime/restore.js';
import type { Logger } from '../runtime/task.js';
import type { ParsedArgs } from './args.js';
import { httpToken, jobLogger, startMonitoringServer } from './http-option.js';
import type { CommandIO } from './main.js';
import { kafkaSecurityOf, type RunConfig } from './run-config.js';

export interface KafkaWorkerOptions {
  config: RunConfig;
  job: JobDefinition;
  standbys: number;
  /** The group's session timeout (default the coordinator's, 10 s); heartbeats go at a fifth of it, at most every 200 ms. */
  sessionTimeoutMs?: number;
  workerId?: string;
  /** The job file (each worker thread loads the job from it). */
  jobModule?: string;
  io: CommandIO;
  /** The command's flags: `--http`, `--http-token`, `--log-format`, `--log-level` (http-option.ts). */
  values?: ParsedArgs['values'];
}

/** The URL other workers reach this one at: the server's, with a wildcard host replaced by the host name. */
function advertisedUrl(server: HttpServer): string {
  const wildcard = server.host === '0.0.0.0' || server.host === '::' || server.host === '';
  if (!wildcard) return server.url;
  return `http://${hostname()}:${server.port}`;
}

/** A directory that answers "rebalancing" until the worker knows its group, then delegates. */
class LateDirectory implements TaskDirectory {
  target: TaskDirectory | undefined;
  constructor(readonly self: Endpoint) {}
  locate(partition: number, options?: { refresh?: boolean }): Promise<TaskLocation> {
    if (this.target !== undefined) return this.target.locate(partition, options);
    return Promise.resolve({ partition, owner: undefined, standbys: [], rebalancing: true });
  }
  invalidate(): void {
    this.target?.invalidate();
  }
}

export async function runKafkaWorker(o: KafkaWorkerOptions): Promise<number> {
  const { runJobOnKafka } = await import('../runtime/kafka-group/index.js');
  const workerId =
    o.workerId ??
    process.env.EDDY_WORKER_ID ??
    createHash('sha256').update(resolve(o.config.dataDir)).digest('hex').slice(0, 12);
  const log = await openKafkaLog({
    brokers: o.config.brokers,
    clientId: `eddy-${o.job.name}-${workerId}`,
    ...kafkaSecurityOf(o.config),
  });
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const values = o.values ?? {};
  const structured = values['log-format'] !== undefined || values['log-level'] !== undefined;
  const baseLogger: Logger = structured
    ? jobLogger(values, o.io)
    : {
        info: (m) => o.io.err(`${m}\n`),
        warn: (m) => o.io.err(`warning: ${m}\n`),
        error: (m) => o.io.err(`error: ${m}\n`),
      };
  const queries = new StoreQueries(o.job);
  const monitor = new JobMonitor(o.job.name, log, 'kafka');
  const logger = monitor.logger(baseLogger);
  let http: HttpServer | undefined;
  let directory: LateDirectory | undefined;
  const onAbort = () => {
    monitor.stopping();
    http?.shutdown();
  };
  controller.signal.addEventListener('abort', onAbort);
  try {
    const offset = Number(process.env.EDDY_HTTP_PORT_OFFSET ?? 0);
    const spec = values.http as string | undefined;
    const shifted =
      spec !== undefined && offset > 0
        ? spec.replace(/:(\d+)$/, (all, port: string) =>
            Number(port) > 0 ? `:${Number(port) + offset}` : all,
          )
        : spec;
    const routes = [
      v1Routes({
        queries,
        log,
        get directory() {
          return directory;
        },
        token: httpToken(values),
      }),
    ];
    http = await startMonitoringServer({ ...values, http: shifted }, monitor, o.io, logger, routes);
    if (http !== undefined) directory = new LateDirectory({ url: advertisedUrl(http), worker: workerId });
    try {
      o.io.err(
        `eddy run: job "${o.job.name}" on Kafka (${o.config.brokers.join(',')}), worker ${workerId}, pid ${process.pid}\n`,
      );
      const result = await runJobOnKafka(o.job, {
        log,
        brokers: o.config.brokers,
        dataDir: o.config.dataDir,
        standbys: o.standbys,
        // heartbeats at a fifth of it, at most every 200 ms (heartbeatIntervalFor)
        ...(o.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: o.sessionTimeoutMs }),
        signal: controller.signal,
        logger,
        workerId,
        // with threads a ThreadedContainer is made per assignment, so every rebalance starts the
        // threads again (each loads the job and Eddy's modules: seconds from the sources): 1 unless
        // asked for (with 1, a rebalance leaves the containers of kept tasks running)
        threads: o.config.threads ?? o.job.threads ?? 1,
        jobModule: o.jobModule,
        queries,
        controlSocket: true,
        endpoint: directory?.self,
        onDirectory: (d) => {
          if (directory !== undefined) directory.target = d;
        },
        onAssignment: ({ container }) => monitor.onStarted(container),
        onRestore: (p) => {
          monitor.onRestore(p);
          if (!p.done) return;
          const ms = (p as Partial<RestoreResult>).ms;
          o.io.err(
            `restored ${p.store}/${p.partition}: ${p.mode} ${p.restored} records${ms === undefined ? '' : ` in ${Math.round(ms)} ms`}\n`,
          );
        },
      });
      monitor.stopped();
      o.io.err(`stopped: processed ${result.processed.toLocaleString('en-US')} messages\n`);
      return 0;
    } catch (err) {
      monitor.stopped(err);
      throw err;
    }
  } finally {
    controller.signal.removeEventListener('abort', onAbort);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    try {
      await http?.close();
    } finally {
      await log.close();
    }
  }
}
