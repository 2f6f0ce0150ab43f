/**
 * The dashboard: `GET /` serves one self-contained page (`dashboard-page.ts`), `GET
 * /assets/uplot.min.js` and `/assets/uplot.min.css` serve the charting library from the installed
 * `uplot` package (a dependency: no CDN, it works offline), and `GET /api/dashboard` is the JSON
 * the page polls every second. Rates are worked out by the page from successive polls.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Hono } from 'hono';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import type { JobMonitor } from './job-monitor.js';

/** What `GET /api/dashboard` returns. */
export interface DashboardData {
  job: string;
  backend: string;
  phase: string;
  /** Epoch ms of this answer. */
  time: number;
  uptimeSeconds: number;
  totals: { processed: number; sent: number; skipped: number; deadLettered: number; commits: number };
  stores: {
    store: string;
    partition: number;
    reads: number;
    inserts: number;
    updates: number;
    deletes: number;
    rangeScans: number;
    cacheHits: number;
    cacheMisses: number;
    bytesRead: number;
    bytesWritten: number;
  }[];
  tasks: {
    task: string;
    partition: number;
    thread: number;
    state: string;
    processed: number;
    inputs: string[];
  }[];
  lag: { topic: string; partition: number; task: string; records: number; ageSeconds: number }[];
  restores: {
    store: string;
    partition: number;
    restored: number;
    total: number;
    done: boolean;
    mode: string;
  }[];
  events: { time: number; level: string; message: string }[];
}

export async function dashboardData(monitor: JobMonitor): Promise<DashboardData> {
  const container = monitor.container;
  const tasks = monitor.tasks();
  const totals = { processed: 0, sent: 0, skipped: 0, deadLettered: 0, commits: 0 };
  for (const t of tasks) {
    totals.processed += t.processed;
    totals.sent += t.sent;
    totals.skipped += t.skipped;
    totals.deadLettered += t.deadLettered;
  }
  totals.commits = container?.metrics().commits ?? 0;
  const stores = (container?.storeViews() ?? []).map((v) => {
    const m = v.metrics();
    return {
      store: v.store,
      partition: v.partition,
      reads: m.gets,
      inserts: m.inserts,
      updates: m.updates,
      deletes: m.deletes,
      rangeScans: m.ranges,
      cacheHits: m.cacheHits ?? 0,
      cacheMisses: m.cacheMisses ?? 0,
      bytesRead: m.bytesRead,
      bytesWritten: m.bytesWritten,
    };
  });
  const lag = (await monitor.lag().catch(() => [])).map((l) => ({
    topic: l.topic,
    partition: l.partition,
    task: l.task,
    records: l.records,
    ageSeconds: l.ageSeconds,
  }));
  return {
    job: monitor.job,
    backend: monitor.backend,
    phase: monitor.phase,
    time: Date.now(),
    uptimeSeconds: (Date.now() - monitor.startedAt) / 1000,
    totals,
    stores,
    tasks: tasks.map((t) => ({
      task: t.name,
      partition: t.partition,
      thread: t.thread,
      state: monitor.phase,
      processed: t.processed,
      inputs: t.inputs.map((i) => `${i.topic}/${i.partition}`),
    })),
    lag,
    restores: monitor.restoreStates().map((r) => ({
      store: r.store,
      partition: r.partition,
      restored: r.restored,
      total: r.total,
      done: r.done,
      mode: r.mode,
    })),
    events: monitor
      .events()
      .slice(-30)
      .map((e) => ({ time: e.time, level: e.level, message: e.message })),
  };
}

const require = createRequire(import.meta.url);
let assets: { js: string; css: string } | undefined;

/** uPlot's files, read once from the installed package. */
function uplotAssets(): { js: string; css: string } {
  assets ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return assets;
}

export function dashboardRoutes(monitor: JobMonitor): (app: Hono) => void {
  return (app) => {
    app.get('/', (c) => c.html(DASHBOARD_PAGE));
    app.get('/assets/uplot.min.js', (c) =>
      c.body(uplotAssets().js, 200, {
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'max-age=3600',
      }),
    );
    app.get('/assets/uplot.min.css', (c) =>
      c.body(uplotAssets().css, 200, {
        'content-type': 'text/css; charset=utf-8',
        'cache-control': 'max-age=3600',
      }),
    );
    app.get('/api/dashboard', async (c) => c.json(await dashboardData(monitor)));
  };
}
