import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import job, {
  type LockEvent,
  type LockRequest,
  type LockState,
} from '../../examples/distributed-lock/job.js';
import { deadLetterTopic } from '../../src/runtime/job.js';
import { TestDriver } from '../../src/runtime/test-driver/index.js';

async function driverFor(t: { after(fn: () => Promise<void>): void }): Promise<TestDriver> {
  const driver = await TestDriver.create(job, { partitions: 2 });
  t.after(() => driver.close());
  return driver;
}

/** Sends a request at time `at` and returns the answer. */
function request(driver: TestDriver, r: LockRequest, at: number): LockEvent {
  const before = driver.outputs('lock-events').length;
  driver.send('lock-requests', { key: r.lock, value: r, timestamp: at });
  const outs = driver.outputs<string, LockEvent>('lock-events');
  assert.equal(outs.length, before + 1, 'one answer per request');
  return outs[outs.length - 1].value as LockEvent;
}

describe('distributed-lock example', () => {
  it('grants a free lock with token 1 and denies others while the lease is live', async (t) => {
    const driver = await driverFor(t);
    assert.deepEqual(request(driver, { op: 'acquire', lock: 'db', owner: 'a', ttlMs: 1000 }, 100), {
      lock: 'db',
      owner: 'a',
      result: 'granted',
      token: 1,
      expiresAt: 1100,
    });
    assert.deepEqual(request(driver, { op: 'acquire', lock: 'db', owner: 'b' }, 500), {
      lock: 'db',
      owner: 'b',
      result: 'denied',
      holder: 'a',
      expiresAt: 1100,
    });
    // Re-acquiring by the holder keeps the token and renews the lease.
    const again = request(driver, { op: 'acquire', lock: 'db', owner: 'a', ttlMs: 1000 }, 600);
    assert.equal(again.result, 'granted');
    assert.equal(again.token, 1);
    assert.equal(again.expiresAt, 1600);
  });

  it('renews only the live lease of its holder, with the right token', async (t) => {
    const driver = await driverFor(t);
    request(driver, { op: 'acquire', lock: 'q', owner: 'a', ttlMs: 1000 }, 0);
    assert.deepEqual(request(driver, { op: 'renew', lock: 'q', owner: 'a', token: 1, ttlMs: 2000 }, 900), {
      lock: 'q',
      owner: 'a',
      result: 'renewed',
      token: 1,
      expiresAt: 2900,
    });
    assert.equal(request(driver, { op: 'renew', lock: 'q', owner: 'b' }, 1000).result, 'rejected');
    assert.match(
      request(driver, { op: 'renew', lock: 'q', owner: 'a', token: 7 }, 1000).reason ?? '',
      /token 7/,
    );
    const late = request(driver, { op: 'renew', lock: 'q', owner: 'a' }, 2900);
    assert.equal(late.result, 'rejected');
    assert.match(late.reason ?? '', /acquire again/);
  });

  it('lets an expired lease be reclaimed, with a higher fencing token', async (t) => {
    const driver = await driverFor(t);
    request(driver, { op: 'acquire', lock: 'job', owner: 'a', ttlMs: 100 }, 0);
    const b = request(driver, { op: 'acquire', lock: 'job', owner: 'b', ttlMs: 100 }, 100);
    assert.equal(b.result, 'granted');
    assert.equal(b.token, 2);
    // The ex-holder's release is refused: it no longer holds the lock.
    assert.equal(
      request(driver, { op: 'release', lock: 'job', owner: 'a', token: 1 }, 150).result,
      'rejected',
    );
    assert.deepEqual(request(driver, { op: 'release', lock: 'job', owner: 'b', token: 2 }, 150), {
      lock: 'job',
      owner: 'b',
      result: 'released',
      token: 2,
    });
    // Tokens keep growing across releases.
    assert.equal(request(driver, { op: 'acquire', lock: 'job', owner: 'a' }, 151).token, 3);
    const p = driver.outputs('lock-events')[0].partition;
    assert.equal(driver.store<string, LockState>('locks', p).get('job')?.token, 3);
  });

  it('keeps locks independent: tokens count per lock', async (t) => {
    const driver = await driverFor(t);
    for (const lock of ['l1', 'l2', 'l3', 'l4']) {
      assert.equal(request(driver, { op: 'acquire', lock, owner: 'a' }, 0).token, 1);
    }
  });

  it('dead-letters malformed requests', async (t) => {
    const driver = await driverFor(t);
    const bad: { key: string; value: unknown }[] = [
      { key: 'x', value: { op: 'grab', lock: 'x', owner: 'a' } },
      { key: 'x', value: { op: 'acquire', lock: 'x' } },
      { key: 'x', value: { op: 'acquire', lock: 'x', owner: 'a', ttlMs: -5 } },
      { key: 'y', value: { op: 'acquire', lock: 'x', owner: 'a' } },
    ];
    for (const b of bad) driver.send('lock-requests', b);
    const dead = driver.outputs<Buffer, Buffer>(deadLetterTopic('distributed-lock'));
    assert.deepEqual(
      dead.map((d) =>
        /unknown op|needs an owner|ttlMs must be|key it by lock/.test(String(d.headers?.['eddy.error'])),
      ),
      [true, true, true, true],
    );
    assert.deepEqual(driver.outputs('lock-events'), []);
  });
});
