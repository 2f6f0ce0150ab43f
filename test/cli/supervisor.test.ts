import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runSupervisor } from '../../src/cli/supervisor.js';

const script = fileURLToPath(new URL('./fixtures/supervised-worker.mjs', import.meta.url));

/** Runs 2 workers in `mode` until both are set up, then stops the supervisor. */
async function superviseAndStop(mode: string): Promise<{ code: number; err: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'eddy-supervisor-'));
  dirs.push(dataDir);
  const stop = new AbortController();
  let err = '';
  const previous = process.env.WORKER_MODE;
  process.env.WORKER_MODE = mode;
  try {
    const code = runSupervisor({
      workers: 2,
      workerArgs: [],
      dataDir,
      script,
      signal: stop.signal,
      io: {
        out: () => {},
        err: (s: string) => {
          err += s;
        },
      },
    });
    const ready = [0, 1].map((i) => join(dataDir, `worker-${i}`, 'ready'));
    const deadline = Date.now() + 30_000;
    while (!ready.every((f) => existsSync(f)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    return { code: await code, err };
  } finally {
    if (previous === undefined) delete process.env.WORKER_MODE;
    else process.env.WORKER_MODE = previous;
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the supervisor (eddy run --workers)', () => {
  it('exits 0 when its workers exit cleanly on SIGTERM', async () => {
    const { code, err } = await superviseAndStop('clean');
    assert.equal(code, 0, err);
  });

  it('exits 0 when a worker still starting up (no SIGTERM handler yet) dies of the SIGTERM it was sent', async () => {
    const { code, err } = await superviseAndStop('no-handler');
    assert.match(err, /signal SIGTERM/);
    assert.equal(code, 0, err);
  });

  it('exits 1 when a worker exits non-zero on SIGTERM', async () => {
    const { code, err } = await superviseAndStop('fails');
    assert.match(err, /code 3/);
    assert.equal(code, 1, err);
  });
});
