/**
 * The job's log lines, structured through pino: `--log-format json` (one JSON object per line, the
 * default when stderr is not a terminal) or `pretty` (the default on a terminal: time, level,
 * message, then the fields as key=value, formatted here without pino-pretty), and `--log-level`
 * (trace, debug, info, warn, error, fatal, silent; default info).
 *
 * The runtime's `Logger` (message + fields) maps onto pino's `(fields, message)`: no field is
 * dropped, and every line of a task carries `job`, `task` and `partition` (the task's logger adds
 * them).
 */
import pino from 'pino';
import type { Logger } from '../runtime/task.js';
import { InvalidArgumentError } from '../util/errors.js';

export type LogFormat = 'json' | 'pretty';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOutputOptions {
  /** Default: pretty when `isTTY`, else json. */
  readonly format?: string;
  /** Default info. */
  readonly level?: string;
  /** Where each line goes (stderr). */
  readonly write: (line: string) => void;
  readonly isTTY: boolean;
}

export interface LogOutput {
  readonly logger: Logger;
  readonly format: LogFormat;
  readonly pino: pino.Logger;
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields the pretty line shows in its own places, not as key=value. */
const SHOWN = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function prettyValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** One pino JSON line as `HH:MM:SS.mmm LEVEL message key=value …`. */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = new Date(typeof o.time === 'number' ? o.time : Date.now()).toISOString().slice(11, 23);
  const level = (LEVEL_NAMES[o.level as number] ?? String(o.level)).padEnd(5);
  let line = `${time} ${level} ${String(o.msg ?? '')}`;
  for (const [k, v] of Object.entries(o)) if (!SHOWN.has(k)) line += ` ${k}=${prettyValue(v)}`;
  return `${line}\n`;
}

export function createLogOutput(o: LogOutputOptions): LogOutput {
  const format = o.format ?? (o.isTTY ? 'pretty' : 'json');
  if (format !== 'json' && format !== 'pretty') {
    throw new InvalidArgumentError(`--log-format must be json or pretty, got "${format}"`);
  }
  const level = o.level ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new InvalidArgumentError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  const write = o.write;
  const stream = format === 'json' ? { write } : { write: (line: string) => write(prettyLine(line)) };
  const p = pino({ level, base: { pid: process.pid } }, stream);
  const logger: Logger = {
    info: (message, fields) => p.info(fields ?? {}, message),
    warn: (message, fields) => p.warn(fields ?? {}, message),
    error: (message, fields) => p.error(fields ?? {}, message),
  };
  return { logger, format, pino: p };
}
