// The runtime layer's public face: re-exports only.
export type { Checkpoint } from './checkpoint.js';
export { Container, type ContainerMetrics, type ContainerOptions } from './container.js';
export {
  type Codec,
  changelogTopic,
  checkpointTopic,
  deadLetterTopic,
  defineJob,
  type ErrorPolicy,
  isJobDefinition,
  type JobDefinition,
  type JobInput,
  type JobStoreSpec,
  type StreamSpec,
} from './job.js';
export type { RestoreProgress } from './restore.js';
export { type RunJobOptions, runJob } from './run-job.js';
export type * from './task.js';
