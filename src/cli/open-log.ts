/**
 * How the log commands open the log: the embedded log in `<data dir>/log` (`--data-dir`,
 * `$EDDY_DATA_DIR`, `./eddy-data`), where `eddy run` keeps it too, closed by the caller through `withLog`.
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
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EmbeddedLog } from '../log/embedded/embedded-log.js';
import type { LogRecovery } from '../log/types.js';
import { InvalidArgumentError, isEddyError } from '../util/errors.js';
import { embeddedLogDir } from './backend.js';
import type { CommandIO } from './main.js';

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

/** Runs `fn` with the log open and closes it afterwards, also when `fn` throws. */
export async function withLog<T>(
  dataDir: string,
  options: OpenLogOptions,
  fn: (log: EmbeddedLog) => Promise<T>,
): Promise<T> {
  const log = await openCliLog(dataDir, options);
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}
