/**
 * Opens the log a job runs on: the embedded log in `<dataDir>/log` (the default), or Kafka. Loaded
 * lazily, so commands that never touch Kafka never load its client.
 */
import { join } from 'node:path';
import type { Log } from '../log/types.js';
import { kafkaSecurityOf, type RunConfig } from './run-config.js';

/** The embedded log's directory inside a data directory. */
export function embeddedLogDir(dataDir: string): string {
  return join(dataDir, 'log');
}

export async function openBackend(config: RunConfig): Promise<Log> {
  if (config.backend === 'kafka') {
    const { openKafkaLog } = await import('../log/kafka/kafka-log.js');
    return openKafkaLog({ brokers: config.brokers, ...kafkaSecurityOf(config) });
  }
  const { openEmbeddedLog } = await import('../log/embedded/embedded-log.js');
  return openEmbeddedLog({ dir: embeddedLogDir(config.dataDir), fsync: config.fsync });
}
