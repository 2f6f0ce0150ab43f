/**
 * The waiters of one partition's `waitForData`: each waits for the visible end offset to pass its
 * offset. `notify(end)` (called by appends and commits) resolves the ones now satisfied; a timeout
 * or an abort resolves `false`. Every waiter owns exactly one timer and one abort listener, both
 * removed when it settles, whichever way. No polling.
 */

interface Waiter {
  offset: number;
  resolve: (ready: boolean) => void;
}

export class WaitList {
  private waiters: Waiter[] = [];

  /**
   * Resolves true once `notify` is called with an end above `offset`, false after `timeoutMs` or on
   * abort. The caller checks the current end first (this only waits).
   */
  wait(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => settle(false);
      const waiter: Waiter = { offset, resolve: (ready) => settle(ready) };
      const settle = (ready: boolean): void => {
        if (timer === undefined) return;
        clearTimeout(timer);
        timer = undefined;
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(ready);
      };
      timer = setTimeout(() => settle(false), Math.min(timeoutMs, 2_147_483_647));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Resolves every waiter whose offset is below `end`. */
  notify(end: number): void {
    if (this.waiters.length === 0) return;
    for (const w of this.waiters.slice()) if (w.offset < end) w.resolve(true);
  }

  /** Resolves every waiter with false (the log is closing). */
  cancelAll(): void {
    for (const w of this.waiters.slice()) w.resolve(false);
  }
}
