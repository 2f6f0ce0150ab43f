/**
 * `waitForData` for a read-only embedded log that ANOTHER process writes (e.g. `eddy consume
 * --follow` next to a running job): no in-process waiter can be woken, so the follower re-checks
 * the partition on disk every `intervalMs` (default 100 ms: a `readdir` and an `fstat`, cheap).
 * One timer per wait, cleared on every outcome; the abort listener is removed too.
 */

/**
 * Resolves true as soon as `check()` (called now and every `intervalMs`) returns true, false after
 * `timeoutMs` or when `signal` aborts. A throwing `check` rejects.
 */
export function pollUntil(
  check: () => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
  intervalMs = 100,
): Promise<boolean> {
  if (check()) return Promise.resolve(true);
  if (signal?.aborted || timeoutMs <= 0) return Promise.resolve(false);
  return new Promise<boolean>((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const done = (result: boolean | Error): void => {
      clearTimeout(timer);
      timer = undefined;
      signal?.removeEventListener('abort', onAbort);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onAbort = (): void => done(false);
    const tick = (): void => {
      let ready: boolean;
      try {
        ready = check();
      } catch (err) {
        done(err as Error);
        return;
      }
      const left = deadline - Date.now();
      if (ready || left <= 0) done(ready);
      else timer = setTimeout(tick, Math.min(intervalMs, left));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(tick, Math.min(intervalMs, timeoutMs));
  });
}
