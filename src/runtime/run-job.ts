/**
 * `runJob`: runs a job in this process with the standalone coordinator (all tasks here) until it is
 * stopped (the signal aborts), asks to shut down, fails, or — with `untilCaughtUp` — has read every
 * input to its end. A clean end commits; a failure closes without committing, so nothing past the
 * last commit is kept, and rethrows.
 */
import type { Log } from '../log/types.js';
import { Container, type ContainerMetrics } from './container.js';
import type { JobDefinition } from './job.js';
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
  onStarted?: (container: Container) => void;
  batchSize?: number;
}

export async function runJob(job: JobDefinition, options: RunJobOptions): Promise<ContainerMetrics> {
  const release = lockJob(options.dataDir, job.name);
  const container = new Container(job, {
    log: options.log,
    dataDir: options.dataDir,
    logger: options.logger,
    batchSize: options.batchSize,
  });
  if (options.onRestore) container.on('restore', options.onRestore);
  try {
    await container.start();
    options.onStarted?.(container);
    await container.run({ untilCaughtUp: options.untilCaughtUp, signal: options.signal });
    const metrics = container.metrics();
    await container.close({ commit: true });
    return metrics;
  } catch (err) {
    await container.close({ commit: false }).catch(() => undefined);
    throw err;
  } finally {
    release();
  }
}
