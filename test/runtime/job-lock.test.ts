import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { lockJob, runningPid } from '../../src/runtime/job-lock.js';
import { tempDir } from '../helpers/tmp.js';

const jobLock = new URL('../../src/runtime/job-lock.ts', import.meta.url).href;

describe('the job lock', () => {
  it('refuses a second run of a job on the same data dir, and takes over from a SIGKILLed one', async (t) => {
    const dataDir = tempDir(t);
    const release = lockJob(dataDir, 'j');
    assert.throws(() => lockJob(dataDir, 'j'), {
      code: 'EDDY_LOCKED',
      message: /job "j" is already running/,
    });
    release();

    // another process runs the job
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { lockJob } = await import(${JSON.stringify(jobLock)}); lockJob(${JSON.stringify(dataDir)}, 'j'); console.log('locked'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.after(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    assert.equal(runningPid(dataDir, 'j'), child.pid);
    assert.throws(() => lockJob(dataDir, 'j'), {
      code: 'EDDY_LOCKED',
      message: new RegExp(`process ${child.pid}`),
    });

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(runningPid(dataDir, 'j'), undefined);
    lockJob(dataDir, 'j')();
  });
});
