/**
 * `eddy run JOB --backend kafka --workers N`: the local cluster manager (Samza's cluster-manager
 * role). Forks N worker processes — `process.execPath` with this process's exec arguments and CLI
 * script, `run JOB` with the same flags but `--workers`, each with its own data dir
 * `<dataDir>/worker-<i>` (so they behave as separate hosts: own stores, own lock) and
 * `EDDY_WORKER_ID=<i>` (its slot, the worker's name in logs and client ids).
 *
 * A worker that exits while the supervisor runs is restarted after a backoff that doubles from
 * `minBackoffMs` up to `maxBackoffMs`, and is reset once a worker has stayed up `healthyMs`.
 * SIGINT/SIGTERM are forwarded as SIGTERM to every worker; the supervisor waits for all of them to
 * exit (each commits and leaves the group) and exits 0 when they all exited cleanly: with code 0, or
 * killed by that SIGTERM itself — a worker only dies of it before it installed its handler, that is
 * before it started its job, so it had nothing to commit. Workers' output
 * goes to this process's stdout/stderr; each start and exit is reported as
 * `supervisor: worker I started (pid P)` / `supervisor: worker I exited (code C, signal S)`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { CommandIO } from './main.js';

export interface SupervisorOptions {
  workers: number;
  /** Arguments of `eddy` for every worker (without `--workers` and `--data-dir`). */
  workerArgs: string[];
  dataDir: string;
  io: CommandIO;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  healthyMs?: number;
  /** Stops the supervisor (default: SIGINT/SIGTERM of this process). */
  signal?: AbortSignal;
  /** The script each worker runs (default: this process's, `process.argv[1]`). */
  script?: string;
}

interface Slot {
  index: number;
  child: ChildProcess | undefined;
  startedAt: number;
  backoffMs: number;
  timer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
  failed: boolean;
}

/** Runs the workers until stopped; resolves with the exit code. */
export async function runSupervisor(o: SupervisorOptions): Promise<number> {
  const min = o.minBackoffMs ?? 500;
  const max = o.maxBackoffMs ?? 30_000;
  const healthy = o.healthyMs ?? 60_000;
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  o.signal?.addEventListener('abort', stop);
  const script = o.script ?? process.argv[1];
  const slots: Slot[] = [];

  const start = (slot: Slot): void => {
    slot.timer = undefined;
    if (controller.signal.aborted) return;
    const child = spawn(
      process.execPath,
      [...process.execArgv, script, ...o.workerArgs, '--data-dir', join(o.dataDir, `worker-${slot.index}`)],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
        // EDDY_WORKERS=0: a worker never forks workers of its own (even when a config file sets them)
        // EDDY_HTTP_PORT_OFFSET: `--http HOST:PORT` (PORT > 0) listens on PORT + the worker's slot
        env: {
          ...process.env,
          EDDY_WORKER_ID: String(slot.index),
          EDDY_WORKERS: '0',
          EDDY_HTTP_PORT_OFFSET: String(slot.index),
        },
      },
    );
    slot.child = child;
    slot.startedAt = performance.now();
    o.io.err(`supervisor: worker ${slot.index} started (pid ${child.pid})\n`);
    slot.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        slot.child = undefined;
        o.io.err(`supervisor: worker ${slot.index} exited (code ${code}, signal ${signal})\n`);
        if (controller.signal.aborted) {
          // killed by our SIGTERM: it died before its handler was installed, before its job started
          if (code !== 0 && signal !== 'SIGTERM') slot.failed = true;
          resolve();
          return;
        }
        if (performance.now() - slot.startedAt >= healthy) slot.backoffMs = min;
        o.io.err(`supervisor: restarting worker ${slot.index} in ${slot.backoffMs} ms\n`);
        slot.timer = setTimeout(() => start(slot), slot.backoffMs);
        slot.backoffMs = Math.min(max, slot.backoffMs * 2);
        resolve();
      });
    });
  };

  for (let i = 0; i < o.workers; i++) {
    const slot: Slot = {
      index: i,
      child: undefined,
      startedAt: 0,
      backoffMs: min,
      timer: undefined,
      exited: Promise.resolve(),
      failed: false,
    };
    slots.push(slot);
    start(slot);
  }
  try {
    await new Promise<void>((resolve) => {
      if (controller.signal.aborted) resolve();
      else controller.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    o.io.err(`supervisor: stopping ${o.workers} workers\n`);
    for (const slot of slots) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.child?.kill('SIGTERM');
    }
    await Promise.all(slots.map((s) => s.exited));
    return slots.some((s) => s.failed) ? 1 : 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    o.signal?.removeEventListener('abort', stop);
  }
}
