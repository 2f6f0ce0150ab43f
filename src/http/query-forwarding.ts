/**
 * Forwarding of interactive queries between the workers of a job on Kafka (v1-routes.ts uses it):
 * a worker asked about a partition it does not run sends the same GET to the partition's owner
 * (found through the runtime's `TaskDirectory`), with `local=1` so the owner answers from its own
 * tasks and never forwards again, with the bearer token when one is set, and with a timeout.
 *
 * `forwardGet` never throws: a refused connection, a timeout, a body that is not JSON or an
 * owner's 503 (it is restarting, or lost the task in a rebalance) come back as `{ ok: false,
 * reason }`, so the caller can ask the directory again, answer from a standby, or answer 503.
 * Any other status (200, a 404 for a missing key, a 400) is the owner's answer and is passed on.
 */
import type { Endpoint } from '../runtime/control/index.js';

/** How long a forwarded query may take before the worker gives up on the owner (ms). */
export const DEFAULT_FORWARD_TIMEOUT_MS = 3000;

export type ForwardResult =
  | { readonly ok: true; readonly status: number; readonly body: Record<string, unknown> }
  | { readonly ok: false; readonly reason: string };

/** `pathAndQuery` (from an incoming request) with `params` set (replacing any of the same name). */
export function withParams(requestUrl: string, params: Record<string, string>): string {
  const url = new URL(requestUrl, 'http://local');
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return `${url.pathname}${url.search}`;
}

/** GETs `pathAndQuery` from `owner`; see the file comment for what is an answer and what a failure. */
export async function forwardGet(
  owner: Endpoint,
  pathAndQuery: string,
  options: { token?: string; timeoutMs?: number } = {},
): Promise<ForwardResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
  const target = `${owner.url.replace(/\/$/, '')}${pathAndQuery}`;
  let res: Response;
  try {
    res = await fetch(target, {
      headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (e.cause?.code ?? e.cause?.toString() ?? e.message);
    return { ok: false, reason: `worker ${owner.worker} at ${owner.url} is unreachable (${why})` };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return {
      ok: false,
      reason: `worker ${owner.worker} at ${owner.url} answered ${res.status} without JSON`,
    };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return {
      ok: false,
      reason: `worker ${owner.worker} at ${owner.url} answered ${res.status} with no object`,
    };
  }
  const b = body as Record<string, unknown>;
  if (res.status === 503 || res.status === 401 || res.status >= 500) {
    return {
      ok: false,
      reason: `worker ${owner.worker} at ${owner.url} answered ${res.status}: ${String(b.message ?? b.code ?? '')}`,
    };
  }
  return { ok: true, status: res.status, body: b };
}
