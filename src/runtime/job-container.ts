/**
 * One factory for the two ways a process runs a job's tasks: a `Container` (every task on this
 * event loop: `threads: 1`, exactly the code path of a job without threads) or a
 * `ThreadedContainer` (the tasks spread over worker threads, this thread owning the log). Both have
 * the surface `JobContainer` names, so `runJob`, the Kafka coordinator and the monitoring take
 * either.
 *
 * `threads`: a positive integer, or `'auto'` = min(os.availableParallelism(), the tasks to run).
 * More than one thread needs `jobModule` (a path or file URL of the job's module), since each thread
 * loads the job itself (a job object cannot cross threads); `'auto'` without it is one thread.
 */
import type { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { JobError } from '../util/errors.js';
import { Container, type ContainerOptions } from './container.js';
import type { JobDefinition } from './job.js';
import { taskCountOf } from './job-topics.js';
import { ThreadedContainer } from './threads/threaded-container.js';

/** What `runJob`, the coordinator and the monitoring use of a container, with or without threads. */
export type JobContainer = Pick<
  Container,
  | 'job'
  | 'start'
  | 'run'
  | 'commit'
  | 'close'
  | 'requestStop'
  | 'metrics'
  | 'taskViews'
  | 'storeViews'
  | 'commitLatency'
  | 'taskPartitions'
> &
  Pick<EventEmitter, 'on' | 'off' | 'once'>;

export type ThreadsOption = number | 'auto';

export interface JobContainerOptions extends Omit<ContainerOptions, 'thread'> {
  /** Worker threads to spread the tasks over (default 1: every task on this event loop). */
  threads?: ThreadsOption;
  /** The job's module, for threads > 1. */
  jobModule?: string;
}

/** Checks a `threads` value; throws a `JobError` naming the option. */
export function checkThreads(threads: unknown, where = 'threads'): ThreadsOption {
  if (threads === 'auto') return threads;
  if (typeof threads === 'number' && Number.isInteger(threads) && threads >= 1 && threads <= 1024)
    return threads;
  throw new JobError(
    `${where} must be a positive integer (1..1024) or 'auto', got ${JSON.stringify(threads)}`,
  );
}

/** The number of threads `threads` means for `job` on `log` (`'auto'` reads the task count). */
export async function resolveThreads(
  job: JobDefinition,
  options: Pick<JobContainerOptions, 'threads' | 'jobModule' | 'log' | 'partitions'>,
): Promise<number> {
  const threads = checkThreads(options.threads ?? 1);
  if (threads !== 'auto') return threads;
  if (options.jobModule === undefined) return 1;
  const tasks = options.partitions?.length ?? (await taskCountOf(job, options.log));
  return Math.max(1, Math.min(availableParallelism(), tasks));
}

/** A `Container` for one thread, a `ThreadedContainer` for more (`threads` already resolved). */
export function createContainer(
  job: JobDefinition,
  options: Omit<JobContainerOptions, 'threads'> & { threads?: number },
): JobContainer {
  const threads = options.threads ?? 1;
  if (threads === 1) return new Container(job, options);
  if (options.jobModule === undefined) {
    throw new JobError(
      `threads: ${threads} needs the jobModule option (the path or file URL of job "${job.name}"'s module): each worker thread loads the job from it`,
    );
  }
  return new ThreadedContainer(job, { ...options, threads, jobModule: options.jobModule });
}
