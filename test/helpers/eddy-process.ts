/**
 * The real `bin/eddy.js` in child processes, from the sources: `eddySync` runs a command to its end;
 * `startEddy` starts a long-running one (`eddy run`, `consume --follow`), collects its output, and
 * registers a SIGKILL with `t.after` so no test leaves a process behind.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/eddy.js', import.meta.url));
const ENV = { ...process.env, EDDY_FROM_SOURCE: '1' };

interface HasAfter {
  after(fn: () => void | Promise<void>): void;
}

export interface SyncResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `eddy ARGS` to its end, with `input` on stdin. */
export function eddySync(args: string[], input?: string): SyncResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input,
    env: ENV,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface EddyProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout or stderr (as chosen) matches `pattern`; rejects after `timeoutMs` or at exit. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts `eddy ARGS`; killed with SIGKILL when the test ends (if still running). */
export function startEddy(t: HasAfter, args: string[]): EddyProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (d) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (d) => {
    err += d;
    for (const l of listeners) l();
  });
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c) => {
      code = c;
      resolve(c);
      for (const l of listeners) l();
    }),
  );
  t.after(async () => {
    if (code === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const waitFor = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stderr', timeoutMs = 60_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(stream === 'stdout' ? out : err);
        if (m) finish(() => resolve(m));
        else if (code !== undefined)
          finish(() => reject(new Error(`exited (${code}) before ${pattern}:\n${out}\n${err}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out waiting for ${pattern}:\n${out}\n${err}`))),
        timeoutMs,
      );
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        fn();
      };
      listeners.add(check);
      check();
    });
  return { child, stdout: () => out, stderr: () => err, waitFor, exited };
}
