/**
 * How the log commands open the log: the embedded log in `<data dir>/log` (`--data-dir`,
 * `$EDDY_DATA_DIR`, `./eddy-data`), where `eddy run` keeps it too, closed by the caller through `withLog`.
 *
 * Commands that only read (`topics list|describe`, `consume`) refuse a data directory that does not
 * exist, instead of creating an empty one at a mistyped path; `topics create` and `produce` create
 * it. The embedded log is loaded lazily so `eddy --help` stays fast.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EmbeddedLog } from '../log/embedded/embedded-log.js';
import { InvalidArgumentError } from '../util/errors.js';
import { embeddedLogDir } from './backend.js';

export interface OpenLogOptions {
  /** Create the data directory when missing (default false: a missing directory is an error). */
  create?: boolean;
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
  return openEmbeddedLog({ dir: embeddedLogDir(dataDir), fsync: 'commit' });
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
