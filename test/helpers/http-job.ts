/**
 * A real `eddy run --http` for the HTTP tests: `startJob` spawns `bin/eddy.js run JOB --http
 * 127.0.0.1:0` on a fresh data directory, waits for its `http: listening on URL` line and for
 * `/ready`, and registers its stop (SIGINT, then SIGKILL if it hangs) and the directory's removal
 * with the test. `freePort` finds a free loopback port for other servers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { BIN, eddySync } from './eddy-process.js';
import { tempDir } from './tmp.js';

const ENV = { ...process.env, EDDY_FROM_SOURCE: '1' };

interface HasAfter {
  after(fn: () => void | Promise<void>): void;
}

export interface JobProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly dataDir: string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** SIGINT and wait for the exit code (SIGKILL after 20 s). Idempotent. */
  stop(): Promise<number | null>;
}

export async function startJob(
  t: HasAfter,
  o: { job: string; topics?: [string, number][]; args?: string[]; env?: Record<string, string> },
): Promise<JobProcess> {
  const dataDir = tempDir(t, 'eddy-http-');
  for (const [topic, partitions] of o.topics ?? []) {
    const r = eddySync([
      'topics',
      'create',
      topic,
      '--partitions',
      String(partitions),
      '--data-dir',
      dataDir,
    ]);
    if (r.status !== 0) throw new Error(`topics create ${topic}: ${r.stderr}`);
  }
  const child = spawn(
    process.execPath,
    [BIN, 'run', o.job, '--data-dir', dataDir, '--http', '127.0.0.1:0', ...(o.args ?? [])],
    { env: { ...ENV, ...o.env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stopped: Promise<number | null> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return stopped;
  };
  t.after(async () => {
    await stop();
  });
  // a guard against a hang, not a speed target: on a loaded machine `eddy run` from the sources takes
  // a while to start, and each of its worker threads (--threads auto) loads the sources again
  const deadline = Date.now() + 180_000;
  let url: string | undefined;
  while (url === undefined) {
    url = /http: listening on (http:\/\/\S+)/.exec(err)?.[1];
    if (url !== undefined) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`eddy run did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  while ((await fetch(`${url}/ready`).catch(() => undefined))?.status !== 200) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`eddy run never became ready:\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, dataDir, stderr: () => err, stop };
}

/** A loopback port nobody listens on (right now). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `check` until it returns a value (not undefined), or throws after `ms`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
