/**
 * `waitForData` for a read-only embedded log that ANOTHER process writes (e.g. `eddy consume
 * --follow` next to a running job): no in-process waiter can be woken, so the follower re-checks
 * the partition on disk when the files change — `fs.watch` (inotify) on the directories in
 * `wakeOn` (the partition's, where appends grow the segment, and the log's, where a transaction's
 * `transaction.json` goes away at commit) — and, as a safety net, every `intervalMs` (default
 * 100 ms: a `readdir` and an `fstat`, cheap). A burst of file events costs one check. One timer
 * and one set of watchers per wait, closed on every outcome; the abort listener is removed too.
 */
import { type FSWatcher, watch } from 'node:fs';

/**
 * Resolves true as soon as `check()` (called now and every `intervalMs`) returns true, false after
 * `timeoutMs` or when `signal` aborts. A throwing `check` rejects.
 */
export function pollUntil(
  check: () => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
  intervalMs = 100,
  wakeOn: readonly string[] = [],
): Promise<boolean> {
  if (check()) return Promise.resolve(true);
  if (signal?.aborted || timeoutMs <= 0) return Promise.resolve(false);
  return new Promise<boolean>((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    let woken = false;
    const watchers: FSWatcher[] = [];
    const done = (result: boolean | Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      timer = undefined;
      for (const w of watchers) w.close();
      signal?.removeEventListener('abort', onAbort);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onAbort = (): void => done(false);
    const tick = (): void => {
      if (finished) return;
      clearTimeout(timer);
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
    const onChange = (): void => {
      if (woken || finished) return;
      woken = true;
      setImmediate(() => {
        woken = false;
        tick();
      });
    };
    for (const dir of wakeOn) {
      try {
        const w = watch(dir, { persistent: false }, onChange);
        w.on('error', () => w.close()); // the directory went away: the timer still checks
        watchers.push(w);
      } catch {
        // cannot watch (gone, or no inotify): the timer alone checks
      }
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(tick, Math.min(intervalMs, timeoutMs));
  });
}
