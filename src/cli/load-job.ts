/**
 * Loads a job file for `eddy run`: a JavaScript or TypeScript module whose default export (or export
 * named `job`) is the result of `defineJob`. TypeScript files are loaded through tsx, so Node 20
 * runs them without a build step.
 */
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isJobDefinition, type JobDefinition } from '../runtime/job.js';
import { JobError } from '../util/errors.js';

let tsxRegistered = false;

export async function loadJob(file: string): Promise<JobDefinition> {
  const path = resolve(file);
  if (!existsSync(path)) throw new JobError(`job file ${path} does not exist`);
  if (['.ts', '.mts', '.cts', '.tsx'].includes(extname(path)) && !tsxRegistered) {
    const { register } = await import('tsx/esm/api');
    register();
    tsxRegistered = true;
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (cause) {
    throw new JobError(`job file ${path} failed to load: ${(cause as Error).message ?? cause}`, { cause });
  }
  const job = mod.default ?? mod.job;
  if (!isJobDefinition(job)) {
    throw new JobError(
      `job file ${path} must export its job: \`export default defineJob({ name, inputs, task, ... })\``,
    );
  }
  return job;
}
