/**
 * The monitoring flags shared by `eddy run` and `eddy demo`: `--http HOST:PORT` (off by default),
 * `--http-token TOKEN` (else `$EDDY_HTTP_TOKEN`), `--log-format json|pretty`, `--log-level LEVEL`,
 * and the wiring between them: the job's logger (pino, through the monitor so warnings and errors
 * reach the dashboard) and the HTTP server.
 */

import type { JobMonitor } from '../http/job-monitor.js';
import type { HttpServer, RouteHook } from '../http/server.js';
import type { Logger } from '../runtime/task.js';
import type { ParsedArgs } from './args.js';
import { createLogOutput } from './log-output.js';
import type { CommandIO } from './main.js';

export const MONITORING_OPTIONS = {
  http: { type: 'string' },
  'http-token': { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

export const MONITORING_HELP = `  --http HOST:PORT          serve /metrics (Prometheus), /health, /ready and a dashboard at /
                            (off by default; 127.0.0.1 unless another address is given; :0 = any port)
  --http-token TOKEN        bearer token of the write endpoints, required off loopback (env EDDY_HTTP_TOKEN)
  --log-format json|pretty  log lines as JSON or for people (default: pretty on a terminal, else json)
  --log-level LEVEL         trace, debug, info, warn, error, fatal or silent (default info)`;

/** The job's logger, from `--log-format` and `--log-level`, writing to stderr. */
export function jobLogger(values: ParsedArgs['values'], io: CommandIO): Logger {
  return createLogOutput({
    format: values['log-format'] as string | undefined,
    level: values['log-level'] as string | undefined,
    write: (line) => io.err(line),
    isTTY: process.stderr.isTTY === true,
  }).logger;
}

/** `--http-token`, else `$EDDY_HTTP_TOKEN`; undefined when neither is set. */
export function httpToken(values: ParsedArgs['values']): string | undefined {
  return (values['http-token'] as string | undefined) ?? (process.env.EDDY_HTTP_TOKEN || undefined);
}

/**
 * Starts the HTTP server when `--http` is given (and says where on stderr:
 * `http: listening on http://HOST:PORT`); undefined otherwise.
 */
export async function startMonitoringServer(
  values: ParsedArgs['values'],
  monitor: JobMonitor,
  io: CommandIO,
  logger: Logger,
  routes: readonly RouteHook[] = [],
): Promise<HttpServer | undefined> {
  const spec = values.http as string | undefined;
  if (spec === undefined) return undefined;
  const { parseHttpAddress, startHttpServer } = await import('../http/server.js');
  const token = httpToken(values);
  const server = await startHttpServer({ address: parseHttpAddress(spec), token, monitor, routes, logger });
  io.err(`http: listening on ${server.url}\n`);
  return server;
}
