/**
 * `runJob`: runs a job in this process with the standalone coordinator (all tasks here) until it is
 * stopped (the signal aborts), asks to shut down, fails, or — with `untilCaughtUp` — has read every
 * input to its end. A clean end commits; a failure closes without committing, so nothing past the
 * last commit is kept, and rethrows.
 */
import type { Log } from '../log/types.js';
import { ControlError } from '../util/errors.js';
import type { ContainerMetrics } from './container.js';
import { ControlServer, SharedLog, StoreQueries } from './control/index.js';
import type { JobDefinition } from './job.js';
import { createContainer, type JobContainer, resolveThreads, type ThreadsOption } from './job-container.js';
import { lockJob } from './job-lock.js';
import type { RestoreProgress } from './restore.js';
import type { Logger } from './task.js';

export interface RunJobOptions {
  log: Log;
  /** The job's local state lives under `<dataDir>/stores/<job>`. */
  dataDir: string;
  logger?: Logger;
  signal?: AbortSignal;
  untilCaughtUp?: boolean;
  onRestore?: (progress: RestoreProgress) => void;
  /** Called once the container has started (restored and initialised), e.g. to report progress. */
  onStarted?: (container: JobContainer) => void;
  batchSize?: number;
  /**
   * Worker threads to spread the tasks over: N, or `'auto'` (min(cores, tasks)); default the job's
   * `threads`, else 1 (every task on this event loop, no worker thread). More than 1 needs
   * `jobModule`.
   */
  threads?: ThreadsOption;
  /** The path or file URL of the job's module: each worker thread loads the job from it. */
  jobModule?: string;
  /**
   * Serve `<dataDir>/control.sock` (control-server.ts) while the job runs, so the shell tools work
   * next to it: writes through this process's log, store reads through the job.
   */
  controlSocket?: boolean;
  /**
   * The interactive queries of this job's stores (e.g. for the HTTP routes); created when
   * `controlSocket` is on and none is given. Shut down before the job closes.
   */
  queries?: StoreQueries;
}

export async function runJob(job: JobDefinition, options: RunJobOptions): Promise<ContainerMetrics> {
  const release = lockJob(options.dataDir, job.name);
  // outside writers (control socket, HTTP) share the log: their transactions take turns with the job's
  const live = options.controlSocket === true || options.queries !== undefined;
  const log = live && !(options.log instanceof SharedLog) ? new SharedLog(options.log) : options.log;
  const queries = options.queries ?? (options.controlSocket ? new StoreQueries(job) : undefined);
  let container: JobContainer;
  try {
    const threads = await resolveThreads(job, {
      threads: options.threads ?? job.threads,
      jobModule: options.jobModule,
      log,
    });
    container = createContainer(job, {
      log,
      dataDir: options.dataDir,
      logger: options.logger,
      batchSize: options.batchSize,
      threads,
      jobModule: options.jobModule,
    });
  } catch (err) {
    release();
    throw err;
  }
  if (options.onRestore) container.on('restore', options.onRestore);
  const detach = queries?.attach(container);
  let control: ControlServer | undefined;
  const stopServing = async (): Promise<void> => {
    queries?.shutdown();
    detach?.();
    await control?.close();
  };
  try {
    if (options.controlSocket) {
      try {
        control = await ControlServer.start({
          dataDir: options.dataDir,
          log,
          queries,
          logger: options.logger,
        });
      } catch (err) {
        if (!(err instanceof ControlError)) throw err;
        options.logger?.warn(`${err.message} (the job runs without it)`);
      }
    }
    await container.start();
    options.onStarted?.(container);
    await container.run({ untilCaughtUp: options.untilCaughtUp, signal: options.signal });
    const metrics = container.metrics();
    await stopServing();
    await container.close({ commit: true });
    return metrics;
  } catch (err) {
    await stopServing().catch(() => undefined);
    await container.close({ commit: false }).catch(() => undefined);
    throw err;
  } finally {
    await stopServing().catch(() => undefined);
    release();
  }
}
