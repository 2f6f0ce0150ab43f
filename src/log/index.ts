// The log layer's public face: re-exports only.

export type { PartitionCleaner } from './embedded/cleaner.js';
export type { EmbeddedLogOptions, FsyncPolicy, RecoveryReport } from './embedded/embedded-log.js';
export { EmbeddedLog, openEmbeddedLog } from './embedded/embedded-log.js';
export { DEFAULT_MAX_OPEN_FILES, FilePool } from './embedded/file-pool.js';
export { formatRecovery } from './embedded/recovery.js';
export type { KafkaLog } from './kafka/kafka-log.js';
export { openKafkaLog } from './kafka/open-kafka-log.js';
export type { KafkaLogOptions } from './kafka/options.js';
export { MemoryLog } from './memory/memory-log.js';
export type { ProducerMessage, ProducerOptions } from './producer.js';
export { Producer } from './producer.js';
export type { BufferAppendTarget, RecordBufferOptions } from './record-buffer.js';
export { appendBuffered, RecordBuffer } from './record-buffer.js';
export type * from './types.js';
export { TOPIC_DEFAULTS } from './types.js';
