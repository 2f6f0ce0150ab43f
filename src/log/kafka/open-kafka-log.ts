/**
 * `openKafkaLog` as the public API exports it: it loads the Kafka backend (`kafka-log.ts` and the
 * Kafka client, `@platformatic/kafka`, whose import takes ~0.6 s: it compiles its protocol schemas)
 * when first called, so that importing Eddy — a job module, each task thread loading it, the CLI on
 * the embedded log — does not pay for a client it may never use.
 */
import type { KafkaLog } from './kafka-log.js';
import type { KafkaLogOptions } from './options.js';

/** Connects to the Kafka cluster of `options.brokers`; see `kafka-log.ts` `openKafkaLog`. */
export async function openKafkaLog(options: KafkaLogOptions): Promise<KafkaLog> {
  const kafka = await import('./kafka-log.js');
  return kafka.openKafkaLog(options);
}
