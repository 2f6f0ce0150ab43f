/**
 * Starts a `worker_threads` worker on a module next to the caller: `<name>.js` when the caller runs
 * compiled, or, when it runs from its TypeScript source (tsx), `<name>.ts` behind a bootstrap that
 * registers tsx in the worker first (Node 20 does not apply the parent's `--import tsx` hooks to
 * workers).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `here`: the caller's `import.meta.url`; `name`: the worker module's file name without extension. */
export function startWorker(here: string, name: string, options: WorkerOptions = {}): Worker {
  const ext = extname(fileURLToPath(here));
  const entry = new URL(`./${name}${ext}`, here);
  if (ext !== '.ts') return new Worker(entry, options);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const bootstrap = `import(${tsx}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
