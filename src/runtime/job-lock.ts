/**
 * Marks a job's local state as in use: `<dataDir>/stores/<job>/RUNNING` holds the pid of the
 * process running the job. `eddy store` refuses to read the stores of a running job (the engine is
 * being written); a file left by a process that died (SIGKILL) is stale and ignored.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LockedError } from '../util/errors.js';

export function jobStateDir(dataDir: string, job: string): string {
  return join(dataDir, 'stores', job);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid running the job in `dataDir`, or undefined when none is. */
export function runningPid(dataDir: string, job: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(jobStateDir(dataDir, job), 'RUNNING'), 'utf8'), 10);
    return Number.isInteger(pid) && pid !== process.pid && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Marks the job as running in this process; returns the release function. */
export function lockJob(dataDir: string, job: string): () => void {
  const pid = runningPid(dataDir, job);
  if (pid !== undefined) {
    throw new LockedError(`job "${job}" is already running in process ${pid} on ${dataDir}; stop it first`);
  }
  const dir = jobStateDir(dataDir, job);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'RUNNING');
  writeFileSync(file, String(process.pid));
  let released = false;
  return () => {
    if (released) return;
    released = true;
    rmSync(file, { force: true });
  };
}
