/**
 * `eddy` child processes for the multi-worker Kafka tests: spawns `bin/eddy.js` from source, keeps
 * its stderr lines, and registers a cleanup that stops it (SIGTERM, then SIGKILL) together with
 * every worker pid it reported (`supervisor: worker I started (pid P)`), so no test leaves a worker
 * running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { after } from 'node:test';

const BIN = new URL('../../bin/eddy.js', import.meta.url).pathname;

export interface EddyProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Worker pids reported by a supervisor, by slot (the latest start wins). */
  readonly workers: Map<number, number>;
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, wait up to `ms`, then SIGKILL it and its workers. */
  stop(ms?: number): Promise<number | null>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function spawnEddy(args: string[], env: Record<string, string> = {}): EddyProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, EDDY_FROM_SOURCE: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  const workers = new Map<number, number>();
  let rest = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (process.env.EDDY_TEST_VERBOSE) process.stderr.write(`[eddy ${child.pid}] ${line}\n`);
      const m = /^supervisor: worker (\d+) started \(pid (\d+)\)/.exec(line);
      if (m) workers.set(Number(m[1]), Number(m[2]));
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (ms = 30_000): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    const code = await exited;
    clearTimeout(timer);
    for (const pid of workers.values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
    return code;
  };
  after(() => stop(5000));
  return { child, lines, workers, exited, stop };
}

/** Polls `check` every `everyMs` until it returns true; fails after `timeoutMs` with `what`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 500,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
