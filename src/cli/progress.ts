/**
 * A live progress line for long work (restore, the demo's feed and run): redrawn in place on a
 * terminal, printed as plain lines at most every few seconds otherwise (CI logs stay readable).
 */

export interface ProgressSink {
  write(text: string): void;
  readonly isTTY?: boolean;
}

export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 1));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(0);
}

export class ProgressLine {
  private last = 0;
  private shown = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly plainEveryMs = 2000,
  ) {}

  /** Shows `text` (throttled); `force` shows it whatever the throttle. */
  update(text: string, force = false): void {
    const now = performance.now();
    if (this.sink.isTTY) {
      if (!force && now - this.last < 100) return;
      this.last = now;
      this.sink.write(`\r\x1b[2K${text}`);
      this.shown = true;
    } else if (force || now - this.last >= this.plainEveryMs) {
      this.last = now;
      this.sink.write(`${text}\n`);
    }
  }

  /** Ends the line: shows `text` for good and moves to the next line. */
  done(text: string): void {
    if (this.sink.isTTY) this.sink.write(`\r\x1b[2K${text}\n`);
    else this.sink.write(`${text}\n`);
    this.shown = false;
  }

  /** Clears a line left in place (before other output). */
  clear(): void {
    if (this.sink.isTTY && this.shown) this.sink.write('\r\x1b[2K');
    this.shown = false;
  }
}

/** The counters the status line of `eddy run` shows. */
export interface RunCounters {
  processed: number;
  commits: number;
  sent: number;
}

/**
 * The status line of `eddy run`, only when something happened since the last one: an idle job
 * prints nothing (it printed "processed 0 messages (0/s)" every 2 s), a busy one its rate since
 * the previous sample.
 */
export class RunStatus {
  private last: RunCounters | undefined;

  /** `lastAt`: when the job started (ms, as `now`), so the first line's rate counts from there. */
  constructor(private lastAt = performance.now()) {}

  /** The line to show for `m` at time `now` (ms), or `undefined` when nothing changed. */
  line(m: RunCounters, now: number): string | undefined {
    const prev = this.last;
    // commits alone are no news: an idle container may still commit on its timer
    if (prev !== undefined && m.processed === prev.processed && m.sent === prev.sent) {
      this.lastAt = now; // the next rate counts from here, not over the idle stretch
      return undefined;
    }
    const rate = ((m.processed - (prev?.processed ?? 0)) * 1000) / Math.max(1, now - this.lastAt);
    this.last = { processed: m.processed, commits: m.commits, sent: m.sent };
    this.lastAt = now;
    if (prev === undefined && m.processed === 0 && m.sent === 0) return undefined;
    return `processed ${m.processed.toLocaleString('en-US')} messages (${formatRate(rate)}/s), ${m.commits} commits, sent ${m.sent.toLocaleString('en-US')}`;
  }
}
