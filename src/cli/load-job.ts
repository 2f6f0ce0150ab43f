/**
 * Loads a job file for `eddy run`: a module whose default export (or export named `job`) is the
 * result of `defineJob`, written as users write them: `.ts`, `.mts`, `.cts`, `.js`, `.mjs`,
 * `.cjs`, in an ESM package (`"type": "module"`) or a CommonJS one (`npm init -y`). TypeScript
 * is compiled on the fly by tsx, so Node 20 runs it without a build step.
 *
 * The module format is decided as Node decides it: `.mts`/`.mjs` are ESM, `.cts`/`.cjs` are
 * CommonJS, and the others follow the `type` of the nearest `package.json`. Then:
 * - ESM files load through `import()` with tsx's ESM hooks registered once for the process. Their
 *   `import … from 'eddy'` gets the very module instance the command line runs on.
 * - CommonJS files load through a tsx namespace (`register({ namespace }).import`), which
 *   compiles the file and its relative imports to CommonJS and leaves `require('eddy')` to Node's
 *   own `require(esm)`, again the same instance. (tsx's process-wide ESM hooks alone hand a
 *   CommonJS `.ts` to Node's CommonJS loader uncompiled, which fails with "Cannot require() ES
 *   Module … in a cycle"; its process-wide CommonJS hooks would compile a second copy of Eddy.)
 *
 * Failures are `JobError`s (`EDDY_JOB`) that say what is wrong: a syntax error names the file,
 * line and column (tsx reports `.mts`/`.cts`/`.mjs` files under a `.ts`/`.js` name, and Node 20
 * drops the location of an ESM syntax error; both are put right here), and a module without a job
 * export says which exports it has.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import type { JobDefinition } from '../runtime/job.js';
import { findJob, importModule } from '../runtime/job-module.js';
import { JobError } from '../util/errors.js';

export { moduleFormat } from '../runtime/job-module.js';

const TS_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

/** Loads and checks the job of `file`; rejects with a `JobError` saying what is wrong. */
export async function loadJob(file: string): Promise<JobDefinition> {
  const path = resolve(file);
  if (!existsSync(path)) throw new JobError(`job file ${path} does not exist`);
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(path);
  } catch (cause) {
    throw new JobError(`job file ${path} failed to load: ${describeLoadError(path, cause)}`, { cause });
  }
  const job = findJob(mod);
  if (job === undefined) {
    const names = exportNames(mod);
    throw new JobError(
      `job file ${path} has no job export (it exports ${names.length > 0 ? names.join(', ') : 'nothing'}): ` +
        'end it with `export default defineJob({ name, inputs, task, ... })` (CommonJS: `module.exports = defineJob(...)`)',
    );
  }
  return job;
}

function exportNames(mod: Record<string, unknown>): string[] {
  const names = new Set(Object.keys(mod));
  const inner = mod.default;
  if (typeof inner === 'object' && inner !== null) {
    names.delete('default');
    for (const n of Object.keys(inner)) if (n !== '__esModule') names.add(n);
  } else if (inner === undefined) names.delete('default');
  return [...names];
}

/** What went wrong loading `path`, with the real `file:line:column` of a syntax error. */
export function describeLoadError(path: string, cause: unknown): string {
  const err = cause as { name?: string; message?: string; stack?: string };
  const message = String(err?.message ?? cause);
  // esbuild through tsx: "Transform failed with 1 error:\n/abs/file.ts:2:18: ERROR: Unexpected ';'"
  const esbuild = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(message);
  if (esbuild !== null && /Transform failed/.test(message)) {
    const [, reported, line, column, text] = esbuild;
    // esbuild counts columns from 0; editors and Node count them from 1
    return `syntax error at ${realSourceFile(path, reported)}:${line}:${Number(column) + 1}: ${text}`;
  }
  if (err?.name === 'SyntaxError') {
    // CommonJS syntax errors carry "file:line" on the stack's first line (and a caret below it).
    const stack = String(err.stack ?? '');
    const head = /^(.*?):(\d+)\n(.*)\n( *)\^/.exec(stack);
    if (head !== null) return `syntax error at ${head[1]}:${head[2]}:${head[4].length + 1}: ${message}`;
    // Node 20 gives an ESM syntax error no location at all: ask `node --check` for the job file's.
    const where = checkSyntax(path);
    if (where !== undefined) return `syntax error at ${where}: ${message}`;
    return `syntax error in a module it imports: ${message}`;
  }
  return message;
}

/**
 * The file a tsx/esbuild error means: tsx compiles `.mts`/`.cts` under a `.ts` name and `.mjs`
 * under a `.js` name, and its errors carry that name.
 */
function realSourceFile(job: string, reported: string): string {
  const stem = reported.slice(0, reported.length - extname(reported).length);
  const renamed =
    extname(reported) === '.ts' ? ['.mts', '.cts'] : extname(reported) === '.js' ? ['.mjs'] : [];
  for (const ext of renamed) if (job === stem + ext) return job;
  if (existsSync(reported)) return reported;
  for (const ext of renamed) if (existsSync(stem + ext)) return stem + ext;
  return reported;
}

/** `file:line:column` of the first syntax error in the JavaScript file `path`, if it has one. */
function checkSyntax(path: string): string | undefined {
  if (TS_EXTENSIONS.includes(extname(path))) return undefined;
  const r = spawnSync(process.execPath, ['--check', path], { encoding: 'utf8', timeout: 10_000 });
  const m = /^(.*?):(\d+)\n(.*)\n( *)\^/m.exec(r.stderr ?? '');
  return m === null ? undefined : `${m[1]}:${m[2]}:${m[4].length + 1}`;
}
