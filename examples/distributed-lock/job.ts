/**
 * A lock service with leases and fencing tokens, on the model of Chubby's sequencers and Martin
 * Kleppmann's fencing tokens: every request for a lock goes through one task (keyed by lock name),
 * so the task's store decides alone who holds each lock.
 *
 * Requests on `lock-requests` (JSON `LockRequest`, keyed by lock) and their answers on
 * `lock-events` (JSON `LockEvent`, keyed by lock):
 * - `acquire { lock, owner, ttlMs? }`: granted when the lock is free or its lease expired, with a
 *   new fencing token (one more than any token this lock ever had, so tokens only grow, across
 *   releases and expiries) and `expiresAt = timestamp + ttlMs` (default 30 s); an owner that holds
 *   the lock gets it again with the same token and a renewed lease; anyone else is `denied` with
 *   the holder and when its lease ends.
 * - `renew { lock, owner, token?, ttlMs? }`: extends the holder's live lease (`renewed`); else
 *   `rejected` (not the holder, wrong token, or the lease expired: acquire again).
 * - `release { lock, owner, token? }`: frees the lock when the owner holds a live lease
 *   (`released`); else `rejected`.
 *
 * Time is the request's timestamp (event time), not the wall clock of the task: replaying the
 * requests after a crash decides exactly the same. A lease is live while `timestamp < expiresAt`;
 * an expired lease is reclaimed by the next acquire of any owner. A lease says who *should* hold
 * the lock; the fencing token is what makes it safe: a resource guarded by the lock must reject any
 * write carrying a token lower than the highest it has seen, so a paused ex-holder cannot clobber
 * the new one.
 *
 * A malformed request (unknown op, no lock or owner, a ttl that is not a positive integer up to
 * 1 hour, a lock name that differs from the record key) throws: `onError: 'dead-letter'`.
 */
// The package's public entry (`eddy` once installed): the only place the example imports Eddy.
import {
  defineJob,
  type IncomingEnvelope,
  type KeyValueStore,
  type MessageCollector,
  type StreamTask,
  serdes,
  type TaskContext,
} from '../../src/index.js';

export const DEFAULT_TTL_MS = 30_000;
export const MAX_TTL_MS = 3_600_000;

export interface LockRequest {
  op: 'acquire' | 'renew' | 'release';
  lock: string;
  owner: string;
  /** Lease length for acquire and renew (default 30 s). */
  ttlMs?: number;
  /** For renew and release: when given, must be the holder's token. */
  token?: number;
}

/** The `locks` store's value. `owner` null: free (the record stays to keep the last token). */
export interface LockState {
  owner: string | null;
  /** The last fencing token granted for this lock. */
  token: number;
  expiresAt: number;
}

export interface LockEvent {
  lock: string;
  owner: string;
  result: 'granted' | 'denied' | 'renewed' | 'released' | 'rejected';
  /** granted, renewed, released: the holder's token. */
  token?: number;
  /** granted, renewed: when the lease ends; denied: when the holder's lease ends. */
  expiresAt?: number;
  /** denied: who holds the lock. */
  holder?: string;
  /** rejected: why. */
  reason?: string;
}

export class BadLockRequestError extends Error {
  override name = 'BadLockRequestError';
}

/** Checks a request's shape; throws `BadLockRequestError` naming what is wrong. */
export function parseLockRequest(value: unknown, key: unknown): LockRequest {
  if (typeof value !== 'object' || value === null) throw new BadLockRequestError('request is not an object');
  const r = value as LockRequest;
  if (!['acquire', 'renew', 'release'].includes(r.op)) {
    throw new BadLockRequestError(`unknown op ${JSON.stringify(r.op)}`);
  }
  if (typeof r.lock !== 'string' || r.lock === '') throw new BadLockRequestError(`${r.op} needs a lock name`);
  if (key !== r.lock) {
    throw new BadLockRequestError(
      `request for lock "${r.lock}" has key ${JSON.stringify(key)}: key it by lock`,
    );
  }
  if (typeof r.owner !== 'string' || r.owner === '') throw new BadLockRequestError(`${r.op} needs an owner`);
  if (r.ttlMs !== undefined && (!Number.isInteger(r.ttlMs) || r.ttlMs <= 0 || r.ttlMs > MAX_TTL_MS)) {
    throw new BadLockRequestError(`ttlMs must be an integer in 1..${MAX_TTL_MS}, got ${r.ttlMs}`);
  }
  if (r.token !== undefined && !Number.isInteger(r.token))
    throw new BadLockRequestError('token must be an integer');
  return r;
}

/**
 * Decides a request against the lock's state at time `now`. Returns the new state (undefined:
 * unchanged) and the answer. Pure: the task only stores and sends what this returns.
 */
export function decide(
  state: LockState | undefined,
  r: LockRequest,
  now: number,
): { state: LockState | undefined; event: LockEvent } {
  const live = state !== undefined && state.owner !== null && now < state.expiresAt;
  const mine = live && state.owner === r.owner;
  const base = { lock: r.lock, owner: r.owner };
  const ttl = r.ttlMs ?? DEFAULT_TTL_MS;
  const reject = (reason: string) => ({
    state: undefined,
    event: { ...base, result: 'rejected' as const, reason },
  });
  switch (r.op) {
    case 'acquire': {
      if (live && !mine) {
        return {
          state: undefined,
          event: { ...base, result: 'denied', holder: state.owner as string, expiresAt: state.expiresAt },
        };
      }
      const token = mine ? state.token : (state?.token ?? 0) + 1;
      const next = { owner: r.owner, token, expiresAt: now + ttl };
      return { state: next, event: { ...base, result: 'granted', token, expiresAt: next.expiresAt } };
    }
    case 'renew': {
      if (!mine) return reject(live ? `held by ${state.owner}` : 'no live lease: acquire again');
      if (r.token !== undefined && r.token !== state.token)
        return reject(`token ${r.token} is not ${state.token}`);
      const next = { ...state, expiresAt: now + ttl };
      return {
        state: next,
        event: { ...base, result: 'renewed', token: next.token, expiresAt: next.expiresAt },
      };
    }
    case 'release': {
      if (!mine) return reject(live ? `held by ${state.owner}` : 'no live lease');
      if (r.token !== undefined && r.token !== state.token)
        return reject(`token ${r.token} is not ${state.token}`);
      return {
        state: { owner: null, token: state.token, expiresAt: now },
        event: { ...base, result: 'released', token: state.token },
      };
    }
  }
}

export class LockTask implements StreamTask {
  private locks!: KeyValueStore<string, LockState>;

  init(ctx: TaskContext): void {
    this.locks = ctx.store<string, LockState>('locks');
  }

  process(envelope: IncomingEnvelope, out: MessageCollector): void {
    const request = parseLockRequest(envelope.value, envelope.key);
    const { state, event } = decide(this.locks.get(request.lock), request, envelope.timestamp);
    if (state !== undefined) this.locks.put(request.lock, state);
    out.send({ topic: 'lock-events', key: request.lock, value: event });
  }
}

export default defineJob({
  name: 'distributed-lock',
  inputs: ['lock-requests'],
  outputs: ['lock-events'],
  stores: { locks: { key: serdes.string, value: serdes.json<LockState>() } },
  task: () => new LockTask(),
  onError: 'dead-letter',
});
