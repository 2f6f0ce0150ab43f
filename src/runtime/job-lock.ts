/**
 * Marks a job's local state as in use: the process running the job holds the `DirLock` of
 * `<dataDir>/stores/<job>` (a `LOCK` file with its pid, taken exclusively; one left by a process
 * that died is stale and taken over). `eddy store` refuses to read the stores of a running job
 * (the engine is being written).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DirLock } from '../util/dir-lock.js';
import { LockedError } from '../util/errors.js';

export function jobStateDir(dataDir: string, job: string): string {
  return join(dataDir, 'stores', job);
}

/** The pid running the job in `dataDir`, or undefined when none is. */
export function runningPid(dataDir: string, job: string): number | undefined {
  return DirLock.holder(jobStateDir(dataDir, job));
}

/** Marks the job as running in this process; returns the release function. */
export function lockJob(dataDir: string, job: string): () => void {
  const dir = jobStateDir(dataDir, job);
  mkdirSync(dir, { recursive: true });
  let lock: DirLock;
  try {
    lock = DirLock.acquire(dir);
  } catch (err) {
    if (!(err instanceof LockedError)) throw err;
    throw new LockedError(`job "${job}" is already running on ${dataDir}: ${err.message}`, { cause: err });
  }
  return () => lock.release();
}
