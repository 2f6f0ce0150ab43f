export { LogOwner } from './log-owner.js';
export { decodeAppends, decodeRecords, encodeRecords } from './record-frames.js';
export { ThreadLog } from './thread-log.js';
export { deserializeError, type SerializedError, serializeError } from './thread-protocol.js';
export { ThreadedContainer, type ThreadedContainerOptions } from './threaded-container.js';
