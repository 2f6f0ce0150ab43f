/**
 * `eddy run JOB --backend kafka`: this process is one worker of the job's consumer group (the Kafka
 * coordinator, runtime/kafka-coordinator.ts). The worker id — `--worker-id`, else `$EDDY_WORKER_ID`
 * (set by the supervisor to the worker's slot), else derived from the data dir — names the worker in
 * logs and client ids only: exactly-once fencing goes by task (`eddy-<job>-task-<p>`), not by worker.
 *
 * Lines on stderr (stable, tests and the supervisor read them):
 *   `generation G: tasks [..], standby [..] (worker ID)` (once the assignment is in effect: tasks
 *   restored and running, standbys tailing), `restored STORE/P: MODE N records in MS ms`,
 *   `warning: tasks [..] fenced (…); stopping them and rejoining`.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { JobDefinition } from '../runtime/job.js';
import type { RestoreResult } from '../runtime/restore.js';
import type { Logger } from '../runtime/task.js';
import type { CommandIO } from './main.js';
import { kafkaSecurityOf, type RunConfig } from './run-config.js';

export interface KafkaWorkerOptions {
  config: RunConfig;
  job: JobDefinition;
  standbys: number;
  /** The group's session timeout (default the coordinator's, 10 s); heartbeats go at a third of it, at most every second. */
  sessionTimeoutMs?: number;
  workerId?: string;
  /** The job file (each worker thread loads the job from it). */
  jobModule?: string;
  io: CommandIO;
}

export async function runKafkaWorker(o: KafkaWorkerOptions): Promise<number> {
  const { openKafkaLog } = await import('../log/kafka/kafka-log.js');
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
  const logger: Logger = {
    info: (m) => o.io.err(`${m}\n`),
    warn: (m) => o.io.err(`warning: ${m}\n`),
    error: (m) => o.io.err(`error: ${m}\n`),
  };
  try {
    o.io.err(
      `eddy run: job "${o.job.name}" on Kafka (${o.config.brokers.join(',')}), worker ${workerId}, pid ${process.pid}\n`,
    );
    const result = await runJobOnKafka(o.job, {
      log,
      brokers: o.config.brokers,
      dataDir: o.config.dataDir,
      standbys: o.standbys,
      ...(o.sessionTimeoutMs === undefined
        ? {}
        : {
            sessionTimeoutMs: o.sessionTimeoutMs,
            heartbeatIntervalMs: Math.min(1000, Math.floor(o.sessionTimeoutMs / 3)),
          }),
      signal: controller.signal,
      logger,
      workerId,
      // not auto on Kafka: a ThreadedContainer is made per assignment, so every rebalance starts the
      // threads again (each loads the job and Eddy's modules: seconds from the sources); opt in
      threads: o.config.threads ?? o.job.threads ?? 1,
      jobModule: o.jobModule,
      onRestore: (p) => {
        if (!p.done) return;
        const ms = (p as Partial<RestoreResult>).ms;
        o.io.err(
          `restored ${p.store}/${p.partition}: ${p.mode} ${p.restored} records${ms === undefined ? '' : ` in ${Math.round(ms)} ms`}\n`,
        );
      },
    });
    o.io.err(`stopped: processed ${result.processed.toLocaleString('en-US')} messages\n`);
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await log.close();
  }
}
