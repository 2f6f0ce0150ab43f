// Operating a running job from outside it (the control socket, the shared log, store queries):
// re-exports only.
export { type ControlRequestOptions, controlRequest } from './control-client.js';
export { encodeRecords, type RoutedRecord } from './control-protocol.js';
export { ControlServer, type ControlServerOptions, controlSocketPath } from './control-server.js';
export { SharedLog } from './shared-log.js';
export {
  DEFAULT_QUERY_LIMIT,
  type GetOptions,
  jsonSafe,
  KEY_ENCODINGS,
  type KeyAnswer,
  type KeyEncoding,
  type KeyOptions,
  MAX_QUERY_LIMIT,
  type PartitionState,
  type QueryableBytes,
  type RangeAnswer,
  type RangeEntry,
  type RangeOptions,
  type StandbyOpenEvent,
  type StatsAnswer,
  type StoreOpenEvent,
  StoreQueries,
} from './store-queries.js';
export type { Endpoint, TaskDirectory, TaskLocation } from './task-directory.js';
