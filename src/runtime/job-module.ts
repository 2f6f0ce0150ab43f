/**
 * Imports a job module as users write them: `.ts`, `.mts`, `.cts`, `.js`, `.mjs`, `.cjs`, in an
 * ESM package (`"type": "module"`) or a CommonJS one. TypeScript is compiled on the fly by tsx, so
 * Node 20 runs it without a build step. Used by `eddy run` (cli/load-job.ts, which adds the error
 * messages) and by every task thread (threads/task-thread.ts), so a thread loads the job exactly as
 * the main thread did.
 *
 * The module format is decided as Node decides it: `.mts`/`.mjs` are ESM, `.cts`/`.cjs` are
 * CommonJS, and the others follow the `type` of the nearest `package.json`. Then:
 * - ESM files load through `import()` with tsx's ESM hooks registered once for the thread. Their
 *   `import … from 'eddy'` gets the very module instance the command line runs on.
 * - CommonJS files load through a tsx namespace (`register({ namespace }).import`), which
 *   compiles the file and its relative imports to CommonJS and leaves `require('eddy')` to Node's
 *   own `require(esm)`, again the same instance. (tsx's process-wide ESM hooks alone hand a
 *   CommonJS `.ts` to Node's CommonJS loader uncompiled, which fails with "Cannot require() ES
 *   Module … in a cycle"; its process-wide CommonJS hooks would compile a second copy of Eddy.)
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isJobDefinition, type JobDefinition } from './job.js';

let esmHooksRegistered = false;

/** `module` or `commonjs`: how Node (and tsx) treat the file at `path`. */
export function moduleFormat(path: string): 'module' | 'commonjs' {
  const ext = extname(path);
  if (ext === '.mts' || ext === '.mjs') return 'module';
  if (ext === '.cts' || ext === '.cjs') return 'commonjs';
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module'
          ? 'module'
          : 'commonjs';
      } catch {
        return 'commonjs'; // Node too treats an unreadable package.json's scope as CommonJS
      }
    }
    if (dirname(dir) === dir) return 'commonjs';
  }
}

/** The module at the absolute `path`, loaded as described above; rejects with the loader's error. */
export async function importModule(path: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  const { register } = await import('tsx/esm/api');
  const importEsm = async (): Promise<Record<string, unknown>> => {
    if (!esmHooksRegistered) {
      register();
      esmHooksRegistered = true;
    }
    return (await import(url)) as Record<string, unknown>;
  };
  if (moduleFormat(path) === 'module') return importEsm();
  try {
    const scope = register({ namespace: `eddy-job-${randomUUID()}` });
    return (await scope.import(url, url)) as Record<string, unknown>;
  } catch (err) {
    // Node 22+ resolves a CommonJS file itself, without the namespace's query (MODULE_NOT_FOUND
    // for "job.ts?namespace=…"), and its process-wide ESM hooks handle CommonJS .ts files fine.
    if (!/\?namespace=/.test(String((err as Error)?.message))) throw err;
    return importEsm();
  }
}

/**
 * The job among a module's exports: `default` or `job`, also one level down, where an ESM view of
 * a CommonJS module puts `module.exports` (a compiled `export default` is `exports.default`).
 */
export function findJob(mod: Record<string, unknown>): JobDefinition | undefined {
  const candidates: unknown[] = [mod.default, mod.job];
  const inner = mod.default;
  if (typeof inner === 'object' && inner !== null) {
    candidates.push((inner as Record<string, unknown>).default, (inner as Record<string, unknown>).job);
  }
  for (const c of candidates) if (isJobDefinition(c)) return c;
  return undefined;
}
