// Running a job in a Kafka consumer group (tasks assigned whole and sticky, standbys): re-exports only.

export { GroupDirectory, type GroupDirectoryOptions } from './group-directory.js';
export {
  type KafkaRunOptions,
  type KafkaRunResult,
  runJobOnKafka,
  taskTransactionalId,
} from './kafka-coordinator.js';
export {
  type AssignTasksInput,
  type AssignTasksResult,
  assignTasks,
  decodeClaims,
  encodeClaims,
  type MemberClaims,
  type TaskAssignment,
} from './task-assignor.js';
