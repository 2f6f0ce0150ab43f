/**
 * `eddy run JOB_FILE`: runs a job until SIGINT/SIGTERM, then commits and exits cleanly. Restore
 * progress is drawn as a bar; then a status line shows messages processed and the rate.
 */

import { resolve } from 'node:path';
import { JobMonitor } from '../http/job-monitor.js';
import { v1Routes } from '../http/v1-routes.js';
import { SharedLog, StoreQueries } from '../runtime/control/index.js';
import type { RestoreProgress } from '../runtime/restore.js';
import { runJob } from '../runtime/run-job.js';
import { expectPositionals, parseCommandArgs } from './args.js';
import { openBackend } from './backend.js';
import { jobLogger, MONITORING_HELP, startMonitoringServer } from './http-option.js';
import { loadJob } from './load-job.js';
import type { CommandIO } from './main.js';
import { recoveryPrinter } from './open-log.js';
import { bar, ProgressLine, RunStatus } from './progress.js';
import { RUN_FLAG_OPTIONS, resolveRunConfig } from './run-config.js';

const HELP = `Usage: eddy run JOB_FILE [options]

Runs a job (a .js or .ts module whose default export is defineJob({...})) in this process, its
tasks spread over worker threads (--threads), until SIGINT or SIGTERM; then it commits and exits.

Options:
  --backend embedded|kafka  the log (default embedded; env EDDY_BACKEND)
  --brokers HOST:PORT,...   Kafka bootstrap servers (env EDDY_BROKERS)
  --data-dir DIR            local state: embedded log and stores (default ./eddy-data; env EDDY_DATA_DIR)
  --fsync always|commit|os  the embedded log's fsync policy (default commit; env EDDY_FSYNC)
  --config FILE             a JSON file of options: every flag below as a camelCase key
                            ("dataDir", "sessionTimeout", ...); schema/eddy-config.schema.json
  --until-caught-up         stop once every input has been read to its end (embedded backend)
  --threads N|auto          worker threads the tasks are spread over (default: the job's threads
                            option, else 1: one event loop); auto = min(cores, tasks)
  --workers N               kafka: fork N worker processes and restart crashed ones (data dirs
                            <data-dir>/worker-<i>); without it this process is one worker
  --standbys N              kafka: standby replicas per task that tail its changelogs (default 0)
  --worker-id ID            kafka: this worker's id (default $EDDY_WORKER_ID, else from --data-dir)
  --session-timeout MS      kafka: how long the group waits for a silent worker before moving its
                            tasks (default 10000; within the broker's group.min/max.session.timeout.ms)
${MONITORING_HELP}

Kafka security (each also EDDY_<NAME>, e.g. EDDY_KAFKA_CA; and a config file key, e.g. "kafkaCa"):
  --kafka-tls               connect over TLS (implied by --kafka-ca/-cert/-key/-servername)
  --kafka-ca FILE           PEM file of the CA that signed the brokers' certificates (default: Node's CAs)
  --kafka-cert FILE         PEM file of a client certificate (mutual TLS), with --kafka-key FILE
  --kafka-key FILE          PEM file of the client certificate's private key
  --kafka-servername NAME   the name the brokers' certificates must carry (default: the host)
  --kafka-tls-insecure      accept any broker certificate (defeats TLS; debugging only)
  --kafka-sasl MECHANISM    PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER
  --kafka-username USER     the SASL username (PLAIN, SCRAM)
  --kafka-password-file F   a file holding the SASL password (or env EDDY_KAFKA_PASSWORD; no flag)
  --kafka-token-file FILE   OAUTHBEARER: a file holding the token, read at each connection (or env
                            EDDY_KAFKA_TOKEN)
  -h, --help                show this help
`;

const OPTIONS = {
  ...RUN_FLAG_OPTIONS, // one per key of the configuration (run-config.ts), --http and the log flags too
  config: { type: 'string' },
} as const;

export function restoreLine(p: RestoreProgress): string {
  const what = `restoring ${p.store}/${p.partition}`;
  if (p.mode === 'reused') return `${what}: local state is current, reused`;
  return `${what} ${bar(p.total === 0 ? 1 : p.restored / p.total)} ${p.restored.toLocaleString('en-US')} records (${p.mode})`;
}

export async function runCommand(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals, help } = parseCommandArgs('run', args, OPTIONS);
  if (help) {
    io.out(HELP);
    return 0;
  }
  const [file] = expectPositionals('run', positionals, ['JOB_FILE']);
  const config = resolveRunConfig(values, values.config as string | undefined);
  const { workers, standbys, sessionTimeout: sessionTimeoutMs } = config;
  // --http, --http-token, --log-format, --log-level: keys of the configuration (flag, $EDDY_*, file)
  const monitoring = {
    http: config.http,
    'http-token': config.httpToken,
    'log-format': config.logFormat,
    'log-level': config.logLevel,
  };
  if (workers > 0) {
    const { runSupervisor } = await import('./supervisor.js');
    const rest = args.filter(
      (a, i) =>
        !['--workers', '--data-dir'].includes(a) && !['--workers', '--data-dir'].includes(args[i - 1]),
    );
    return runSupervisor({
      workers,
      workerArgs: ['run', ...rest.filter((a) => !/^--(workers|data-dir)=/.test(a))],
      dataDir: config.dataDir,
      io,
    });
  }
  const job = await loadJob(file);
  if (config.backend === 'kafka') {
    const { runKafkaWorker } = await import('./run-kafka.js');
    return runKafkaWorker({
      config,
      job,
      standbys,
      sessionTimeoutMs,
      workerId: config.workerId,
      jobModule: resolve(file),
      io,
      values: monitoring,
    });
  }
  const baseLogger = jobLogger(monitoring, io);
  // one SharedLog and one StoreQueries for the job, its control socket and the /v1 routes
  const log = new SharedLog(await openBackend(config, await recoveryPrinter(io)));
  const queries = new StoreQueries(job);
  const monitor = new JobMonitor(job.name, log, config.backend);
  const logger = monitor.logger(baseLogger);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const progress = new ProgressLine({ write: (t) => io.err(t), isTTY: process.stderr.isTTY });
  let timer: NodeJS.Timeout | undefined;
  let http: Awaited<ReturnType<typeof startMonitoringServer>>;
  const onAbort = () => {
    monitor.stopping();
    http?.shutdown();
  };
  controller.signal.addEventListener('abort', onAbort);
  try {
    http = await startMonitoringServer(monitoring, monitor, io, logger, [v1Routes({ queries, log })]);
    io.err(`eddy run: job "${job.name}" on the ${config.backend} log (${config.dataDir})\n`);
    const metrics = await runJob(job, {
      log,
      dataDir: config.dataDir,
      signal: controller.signal,
      untilCaughtUp: config.untilCaughtUp,
      threads: config.threads ?? job.threads ?? 1,
      jobModule: resolve(file),
      controlSocket: true, // the shell tools next to the job (runtime/control-server.ts)
      queries,
      logger,
      onRestore: (p) => {
        monitor.onRestore(p);
        if (p.done) progress.done(restoreLine(p));
        else progress.update(restoreLine(p));
      },
      onStarted: (container) => {
        monitor.onStarted(container);
        const status = new RunStatus();
        timer = setInterval(
          () => {
            const line = status.line(container.metrics(), performance.now());
            if (line !== undefined) progress.update(line, true);
          },
          process.stderr.isTTY ? 1000 : 2000,
        );
      },
    });
    monitor.stopped();
    progress.done(
      `stopped: processed ${metrics.processed.toLocaleString('en-US')} messages, ${metrics.commits} commits, skipped ${metrics.skipped}, dead-lettered ${metrics.deadLettered}`,
    );
    return 0;
  } catch (err) {
    monitor.stopped(err);
    throw err;
  } finally {
    if (timer) clearInterval(timer);
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
