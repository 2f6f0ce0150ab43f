/**
 * The HTTP layer of `eddy run --http HOST:PORT` and `eddy demo --http …` (Hono on Node's own
 * `http` server, through `@hono/node-server`'s request listener). A stable, documented contract:
 *
 * - `GET /health`: the process is alive (200, with the job's phase).
 * - `GET /ready`: 200 once every task is restored and running, 503 until then (and while stopping);
 *   JSON detail: tasks, their state, restore progress per store partition.
 * - `GET /metrics`: Prometheus text (`job-metrics.ts`).
 * - `GET /`: the dashboard; `GET /api/dashboard`: the JSON it polls (`dashboard.ts`).
 * - Other routes are mounted through `routes` hooks (the `/v1/...` interactive queries and writes).
 *
 * Security: the server binds 127.0.0.1 unless another address is given explicitly. Write methods
 * (anything but GET, HEAD and OPTIONS) need `Authorization: Bearer <token>` whenever a token is set,
 * and a token must be set (`--http-token` / `EDDY_HTTP_TOKEN`) to bind a non-loopback address.
 *
 * Errors are JSON `{ code, message }` with the status `httpStatusOf` maps the code to: 401 for a
 * missing or wrong token, 404 for an unknown path, 503 while the process shuts down (`/health` and
 * `/metrics` still answer), never a stack trace.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from '../runtime/task.js';
import {
  EddyError,
  type ErrorCode,
  InvalidArgumentError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
} from '../util/errors.js';
import { dashboardRoutes } from './dashboard.js';
import { JobMetrics } from './job-metrics.js';
import type { JobMonitor } from './job-monitor.js';

/** Where the server listens. */
export interface HttpAddress {
  readonly host: string;
  /** 0: any free port (the server's `port` says which). */
  readonly port: number;
}

/** A hook that adds routes to the server's app (e.g. the `/v1/...` routes). */
export type RouteHook = (app: Hono) => void;

export interface HttpServerOptions {
  readonly address: HttpAddress;
  /** The bearer token write requests must carry; required for a non-loopback address. */
  readonly token?: string;
  readonly monitor: JobMonitor;
  readonly routes?: readonly RouteHook[];
  /** Where unexpected errors of a request are logged (their stack never reaches the client). */
  readonly logger?: Logger;
}

export interface HttpServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  /** From now on, requests other than /health and /metrics answer 503. */
  shutdown(): void;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Parses `--http`: `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` (host 127.0.0.1). Port 0 takes a
 * free one.
 */
export function parseHttpAddress(text: string): HttpAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(
      `--http "${text}" is not HOST:PORT (e.g. 127.0.0.1:9090, :9090 or [::1]:9090; port 0..65535)`,
    );
  }
  const host = m[1] || m[2] || '127.0.0.1';
  return { host, port };
}

/** Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === 'localhost';
}

/** The HTTP status of an error code (500 for anything unexpected). */
export function httpStatusOf(code: ErrorCode | undefined): 400 | 401 | 404 | 409 | 413 | 500 | 503 {
  switch (code) {
    case 'EDDY_INVALID_ARGUMENT':
    case 'EDDY_INVALID_KEY':
    case 'EDDY_INVALID_VALUE':
    case 'EDDY_SERDE':
    case 'EDDY_OFFSET_OUT_OF_RANGE':
      return 400;
    case 'EDDY_UNAUTHORIZED':
      return 401;
    case 'EDDY_NOT_FOUND':
    case 'EDDY_UNKNOWN_TOPIC':
    case 'EDDY_UNKNOWN_PARTITION':
      return 404;
    case 'EDDY_TOPIC_EXISTS':
    case 'EDDY_TOPIC_MISMATCH':
      return 409;
    case 'EDDY_RECORD_TOO_LARGE':
      return 413;
    case 'EDDY_UNAVAILABLE':
    case 'EDDY_STORE_CLOSED':
    case 'EDDY_LOG_CLOSED':
    case 'EDDY_TIMEOUT':
      return 503;
    default:
      return 500;
  }
}

const WRITE_SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Paths that still answer while the process shuts down. */
const DURING_SHUTDOWN = new Set(['/health', '/metrics']);

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = header === undefined ? null : /^Bearer (.+)$/i.exec(header.trim());
  if (m === null) return false;
  const given = Buffer.from(m[1]);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Builds the app: middleware, the built-in routes, then the hooks' routes. */
export function buildApp(o: HttpServerOptions, state: { closing: boolean }): Hono {
  const app = new Hono();
  const metrics = new JobMetrics(o.monitor);
  const token = o.token;
  app.use('*', async (c, next) => {
    if (state.closing && !DURING_SHUTDOWN.has(c.req.path)) {
      throw new UnavailableError('the job is shutting down; try another worker or retry after it restarts');
    }
    if (
      token !== undefined &&
      !WRITE_SAFE.has(c.req.method) &&
      !tokenMatches(c.req.header('authorization'), token)
    ) {
      throw new UnauthorizedError(
        `${c.req.method} ${c.req.path} needs "Authorization: Bearer <token>" with the server's --http-token (EDDY_HTTP_TOKEN)`,
      );
    }
    await next();
  });
  app.get('/health', (c) =>
    c.json({
      status: 'ok',
      job: o.monitor.job,
      phase: o.monitor.phase,
      pid: process.pid,
      uptimeSeconds: process.uptime(),
    }),
  );
  app.get('/ready', (c) => {
    const r = o.monitor.readiness();
    return c.json(r, r.ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    const text = await metrics.scrape();
    return c.body(text, 200, { 'content-type': metrics.contentType });
  });
  dashboardRoutes(o.monitor)(app);
  for (const hook of o.routes ?? []) hook(app);
  app.notFound((c) => {
    throw new NotFoundError(
      `no route ${c.req.method} ${c.req.path} (see GET / for the dashboard, /metrics, /health, /ready)`,
    );
  });
  app.onError((err, c) => {
    const code = err instanceof EddyError ? err.code : 'EDDY_INTERNAL';
    const status = err instanceof EddyError ? httpStatusOf(err.code) : 500;
    if (status === 500)
      o.logger?.error(`HTTP ${c.req.method} ${c.req.path} failed: ${err.stack ?? err.message}`);
    return c.json({ code, message: err.message }, status);
  });
  return app;
}

/** Starts the server; rejects (e.g. the port is taken) with the address in the message. */
export async function startHttpServer(o: HttpServerOptions): Promise<HttpServer> {
  const { host, port } = o.address;
  if (!isLoopback(host) && o.token === undefined) {
    throw new InvalidArgumentError(
      `--http ${host}:${port} is not a loopback address: give a token for its write endpoints with --http-token TOKEN or EDDY_HTTP_TOKEN (or bind 127.0.0.1)`,
    );
  }
  const state = { closing: false };
  const app = buildApp(o, state);
  const server: Server = createServer(getRequestListener(app.fetch));
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new InvalidArgumentError(`--http ${host}:${port}: cannot listen (${err.code ?? err.message})`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    host,
    port: bound,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    shutdown() {
      state.closing = true;
    },
    close() {
      state.closing = true;
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // requests in flight get a moment to finish, then their connections are cut
        const timer = setTimeout(() => server.closeAllConnections(), 1000);
        timer.unref();
        server.once('close', () => clearTimeout(timer));
      });
      return closed;
    },
  };
}
