/**
 * How the log commands open the log: the embedded log in `<data dir>/log` (`--data-dir`,
 * `$EDDY_DATA_DIR`, `./eddy-data`), where `eddy run` keeps it too, or Kafka (`--backend kafka
 * --brokers HOST:PORT,…`, or `$EDDY_BACKEND`/`$EDDY_BROKERS`), closed by the caller through `withLog`.
 *
 * Commands that only read (`topics list|describe`, `consume`) refuse a data directory that does not
 * exist, instead of creating an empty one at a mistyped path; `topics create` and `produce` create
 * it. The embedded log is loaded lazily so `eddy --help` stays fast.
 *
 * Next to a running job (another process holds the log's lock): with `follow`, the read commands
 * open the log as a read-only follower (no lock, the writer's files read as they grow); the write
 * commands go through the owner's control socket (`withLogWriter` in live-log.ts).
 *
 * Whatever opening the log repaired or found damaged (a torn tail cut off, a damaged batch, a
 * transaction rolled back) is printed on stderr, one line each, before the command runs.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EmbeddedLog } from '../log/embedded/embedded-log.js';
import { openKafkaLog } from '../log/kafka/open-kafka-log.js';
import type { KafkaLogOptions } from '../log/kafka/options.js';
import type { Log, LogRecovery } from '../log/types.js';
import { InvalidArgumentError, isEddyError } from '../util/errors.js';
import {
  choiceOption,
  DATA_DIR_OPTION,
  dataDirHelp,
  dataDirOf,
  optionLine,
  type ParsedArgs,
} from './args.js';
import { embeddedLogDir } from './backend.js';
import type { CommandIO } from './main.js';
import { KAFKA_SECURITY_FLAG_OPTIONS, kafkaSecurityHelp, resolveKafkaSecurity } from './run-config.js';

/** Which log a command works on. */
export interface LogTarget {
  backend: 'embedded' | 'kafka';
  /** The embedded log's data directory (its log is `<dataDir>/log`). */
  dataDir: string;
  /** Kafka bootstrap servers, `host:port`. */
  brokers: string[];
  /** Kafka's TLS and SASL (`--kafka-*`, `EDDY_KAFKA_*`), as `eddy run` takes them. */
  security?: Pick<KafkaLogOptions, 'tls' | 'sasl'>;
}

/** The options that choose the log, common to `topics`, `produce` and `consume`. */
export const LOG_TARGET_OPTIONS = {
  ...DATA_DIR_OPTION,
  backend: { type: 'string' },
  brokers: { type: 'string' },
  ...KAFKA_SECURITY_FLAG_OPTIONS,
} as const;

/** Help text lines for `LOG_TARGET_OPTIONS`, with their text at `column` of the command's help. */
export function logTargetHelp(column: number): string {
  return [
    dataDirHelp(column),
    optionLine('--backend B', 'embedded (default; env EDDY_BACKEND) or kafka', column),
    optionLine(
      '--brokers H:P,...',
      'Kafka bootstrap servers, for --backend kafka (env EDDY_BROKERS)',
      column,
    ),
    'Kafka TLS and SASL, for --backend kafka (each also EDDY_KAFKA_*; the password or token from',
    'EDDY_KAFKA_PASSWORD / EDDY_KAFKA_TOKEN or a file, never a flag):',
    kafkaSecurityHelp(column),
  ].join('\n');
}

/** The log the flags (then `EDDY_BACKEND`, `EDDY_BROKERS`, `EDDY_DATA_DIR`) point at. */
export function logTargetOf(values: ParsedArgs['values'], env: NodeJS.ProcessEnv = process.env): LogTarget {
  const fromEnv = env.EDDY_BACKEND !== undefined && env.EDDY_BACKEND !== '' ? env.EDDY_BACKEND : undefined;
  const backend = choiceOption(
    values.backend === undefined && fromEnv !== undefined ? { backend: fromEnv } : values,
    'backend',
    ['embedded', 'kafka'] as const,
    'embedded',
  );
  const rawBrokers = typeof values.brokers === 'string' ? values.brokers : (env.EDDY_BROKERS ?? '');
  const brokers = rawBrokers
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const bad = brokers.find((b) => !/^[^:\s]+:\d+$/.test(b));
  if (bad !== undefined)
    throw new InvalidArgumentError(`option --brokers: expected host:port[,host:port…], got "${bad}"`);
  if (backend === 'kafka' && brokers.length === 0) {
    throw new InvalidArgumentError(
      '--backend kafka needs --brokers HOST:PORT[,HOST:PORT…] (or EDDY_BROKERS)',
    );
  }
  if (backend === 'embedded' && typeof values.brokers === 'string') {
    throw new InvalidArgumentError('option --brokers is for --backend kafka');
  }
  const securityFlag = Object.keys(KAFKA_SECURITY_FLAG_OPTIONS).find((f) => values[f] !== undefined);
  if (backend === 'embedded' && securityFlag !== undefined) {
    throw new InvalidArgumentError(`option --${securityFlag} is for --backend kafka`);
  }
  const security = backend === 'kafka' ? resolveKafkaSecurity(values, env) : undefined;
  return { backend, dataDir: dataDirOf(values, env), brokers, security };
}

export interface OpenLogOptions {
  /** Create the data directory when missing (default false: a missing directory is an error). */
  create?: boolean;
  /**
   * When another process owns the log (`EDDY_LOCKED`), open it as a read-only follower instead:
   * every read sees what the owner wrote, and writes reject. `'always'`: open it read-only even
   * when nobody owns it (`consume` takes no lock, so a job can start while it follows).
   */
  follow?: boolean | 'always';
  /** Where recoveries are printed (`io.err`); default stderr. */
  io?: CommandIO;
}

/** Prints a recovery of the log (`formatRecovery`) on the command's stderr. */
export async function recoveryPrinter(io?: CommandIO): Promise<(r: LogRecovery) => void> {
  const { formatRecovery } = await import('../log/embedded/recovery.js');
  const err = io?.err ?? ((t: string) => process.stderr.write(t));
  return (r) => err(`eddy: ${formatRecovery(r)}\n`);
}

/** Opens the embedded log in `dataDir`; the caller closes it. */
export async function openCliLog(dataDir: string, options: OpenLogOptions = {}): Promise<EmbeddedLog> {
  if (options.create !== true && !existsSync(dataDir)) {
    throw new InvalidArgumentError(
      `no Eddy data directory at ${resolve(dataDir)}; create a topic first (eddy topics create NAME --partitions N) or pass --data-dir`,
    );
  }
  const { openEmbeddedLog } = await import('../log/embedded/embedded-log.js');
  // The same place `eddy run` keeps its log, so the commands see a job's topics.
  const dir = embeddedLogDir(dataDir);
  if (options.follow === 'always' && existsSync(dir)) return openEmbeddedLog({ dir, readOnly: true });
  try {
    return await openEmbeddedLog({ dir, fsync: 'commit', onRecovery: await recoveryPrinter(options.io) });
  } catch (err) {
    if (options.follow !== true || !isEddyError(err, 'EDDY_LOCKED')) throw err;
    return openEmbeddedLog({ dir, readOnly: true });
  }
}

/**
 * Runs `fn` with the log open and closes it afterwards, also when `fn` throws. `target` is a
 * `LogTarget`, or a data directory for the embedded log.
 */
export async function withLog<T>(
  target: LogTarget | string,
  options: OpenLogOptions,
  fn: (log: Log) => Promise<T>,
): Promise<T> {
  let log: Log;
  if (typeof target === 'string' || target.backend === 'embedded') {
    log = await openCliLog(typeof target === 'string' ? target : target.dataDir, options);
  } else {
    // a transactional id of its own: two `eddy produce` at once must not fence each other
    log = await openKafkaLog({
      brokers: target.brokers,
      clientId: 'eddy-cli',
      transactionalId: `eddy-cli-${randomUUID()}`,
      ...target.security,
    });
  }
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}
