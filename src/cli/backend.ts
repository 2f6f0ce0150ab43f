/**
 * Opens the log a job runs on: the embedded log in `<dataDir>/log` (the default), or Kafka. Loaded
 * lazily, so commands that never touch Kafka never load its client.
 */
import { join } from 'node:path';
import { openKafkaLog } from '../log/kafka/open-kafka-log.js';
import type { Log, LogRecovery } from '../log/types.js';
import { kafkaSecurityOf, type RunConfig } from './run-config.js';

/** The embedded log's directory inside a data directory. */
export function embeddedLogDir(dataDir: string): string {
  return join(dataDir, 'log');
}

/** Opens the job's log; `onRecovery` hears what opening the embedded log repaired or found damaged. */
export async function openBackend(config: RunConfig, onRecovery?: (r: LogRecovery) => void): Promise<Log> {
  if (config.backend === 'kafka') {
    return openKafkaLog({ brokers: config.brokers, ...kafkaSecurityOf(config) });
  }
  const { openEmbeddedLog } = await import('../log/embedded/embedded-log.js');
  return openEmbeddedLog({ dir: embeddedLogDir(config.dataDir), fsync: config.fsync, onRecovery });
}
