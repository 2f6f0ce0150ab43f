/**
 * The topics a job's tasks are laid out over, shared by the container and the Kafka coordinator:
 * the task count (task p owns partition p of every input and store) and the changelog topics.
 */
import { type Log, TOPIC_DEFAULTS } from '../log/types.js';
import { changelogTopic, type JobDefinition } from './job.js';

/** The job's task count: `partitions` when set, else the most partitions of any input (each is checked to exist). */
export async function taskCountOf(job: JobDefinition, log: Log): Promise<number> {
  let partitions = 0;
  for (const input of job.inputs) {
    partitions = Math.max(partitions, (await log.describeTopic(input.topic)).partitions.length);
  }
  return job.partitions ?? partitions;
}

/** Creates (or checks) the compacted changelog of every logged store: one partition per task. */
export async function ensureChangelogTopics(job: JobDefinition, log: Log, taskCount: number): Promise<void> {
  for (const [name, spec] of Object.entries(job.stores)) {
    if (!spec.changelog) continue;
    await log.ensureTopic(changelogTopic(job.name, name), {
      partitions: taskCount,
      replicationFactor: job.replicationFactor,
      cleanup: 'compact',
      // the store's own limit (key + value) must fit its changelog's
      maxRecordBytes: Math.max(spec.maxRecordBytes ?? 0, TOPIC_DEFAULTS.maxRecordBytes),
    });
  }
}
