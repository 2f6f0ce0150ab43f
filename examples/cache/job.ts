/**
 * A read-through cache in front of a slow origin (a database, an HTTP service), with entries that
 * expire through the store's `ttlMs` option.
 *
 * Two inputs, both keyed by the cache key and with the same partition count (co-partitioned, so a
 * key's requests and its origin's answers meet in the same task):
 * - `cache-requests`: `{ op: 'get', key, requestId }` or `{ op: 'invalidate', key }`.
 * - `origin-responses`: `{ key, value }`, what the origin answered to a fetch.
 *
 * A `get` of a cached key is answered at once on `cache-responses` (`hit: true`). A miss parks
 * the request id in the `pending` store and, unless a fetch of that key is already under way,
 * asks the origin on `origin-fetches` (one fetch per key, however many requests wait). When the
 * origin answers, the value is cached and every parked request is answered (`hit: false`).
 * `invalidate` drops the cached entry.
 *
 * Expiry is the store's: `entries` has `ttlMs: 60 s`, so a value read a minute after it was
 * fetched is a miss and is fetched again (the tombstone of the expired entry reaches the
 * changelog). `pending` has `ttlMs: 10 s`: when the origin never answers, the next `get` after
 * that fetches again instead of waiting forever.
 *
 * A malformed request throws: `onError: 'dead-letter'`.
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

export const ENTRY_TTL_MS = 60_000;
export const FETCH_TIMEOUT_MS = 10_000;

export type CacheRequest = { op: 'get'; key: string; requestId: string } | { op: 'invalidate'; key: string };

export interface OriginResponse {
  key: string;
  value: unknown;
}

export interface CacheResponse {
  requestId: string;
  key: string;
  value: unknown;
  hit: boolean;
}

export class BadCacheRequestError extends Error {
  override name = 'BadCacheRequestError';
}

function requireKey(value: unknown, what: string): string {
  const key = (value as { key?: unknown } | null)?.key;
  if (typeof key !== 'string' || key === '') throw new BadCacheRequestError(`${what} needs a key`);
  return key;
}

export class CacheTask implements StreamTask {
  private entries!: KeyValueStore<string, { value: unknown }>;
  private pending!: KeyValueStore<string, string[]>;

  init(ctx: TaskContext): void {
    this.entries = ctx.store('entries');
    this.pending = ctx.store('pending');
  }

  process(envelope: IncomingEnvelope, out: MessageCollector): void {
    if (envelope.topic === 'origin-responses') {
      const key = requireKey(envelope.value, 'an origin response');
      const { value } = envelope.value as OriginResponse;
      this.entries.put(key, { value });
      for (const requestId of this.pending.get(key) ?? []) this.answer(out, requestId, key, value, false);
      this.pending.delete(key);
      return;
    }
    const request = envelope.value as CacheRequest;
    const key = requireKey(request, 'a cache request');
    if (request.op === 'invalidate') {
      this.entries.delete(key);
      return;
    }
    if (request.op !== 'get')
      throw new BadCacheRequestError(`unknown op ${JSON.stringify((request as { op: unknown }).op)}`);
    if (typeof request.requestId !== 'string') throw new BadCacheRequestError('get needs a requestId');
    const cached = this.entries.get(key);
    if (cached !== undefined) {
      this.answer(out, request.requestId, key, cached.value, true);
      return;
    }
    const waiting = this.pending.get(key);
    this.pending.put(key, [...(waiting ?? []), request.requestId]);
    if (waiting === undefined) out.send({ topic: 'origin-fetches', key, value: { key } });
  }

  private answer(out: MessageCollector, requestId: string, key: string, value: unknown, hit: boolean): void {
    const response: CacheResponse = { requestId, key, value, hit };
    out.send({ topic: 'cache-responses', key, value: response });
  }
}

export default defineJob({
  name: 'cache',
  inputs: ['cache-requests', 'origin-responses'],
  outputs: ['cache-responses', 'origin-fetches'],
  stores: {
    entries: { key: serdes.string, value: serdes.json<{ value: unknown }>(), ttlMs: ENTRY_TTL_MS },
    pending: { key: serdes.string, value: serdes.json<string[]>(), ttlMs: FETCH_TIMEOUT_MS },
  },
  task: () => new CacheTask(),
  onError: 'dead-letter',
});
