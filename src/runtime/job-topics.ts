/**
 * The topics a job's tasks are laid out over, shared by the container, the log owner of a
 * threaded job and the Kafka coordinator: the task count (task p owns partition p of every input
 * and store), the output, dead-letter, changelog and checkpoint topics.
 */
import { type Log, TOPIC_DEFAULTS } from '../log/types.js';
import { TopicMismatchError } from '../util/errors.js';
import { CheckpointStore } from './checkpoint.js';
import {
  changelogTopic,
  checkpointTopic,
  deadLetterTopic,
  defaultKeyCodec,
  type JobDefinition,
} from './job.js';
import type { OutputTopic } from './output-collector.js';

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

/**
 * Checks the topics of a job and creates the missing ones, once, before any task runs: inputs must
 * exist; outputs, the dead-letter topic, changelogs and the checkpoint topic are created with the
 * job's partition count when missing, and refused when they exist with another count or cleanup
 * policy (an existing output may have any partition count: messages are routed over its
 * partitions). Returns the task count and the output topics as the collectors route to them.
 * With threads the log owner runs it before the threads start, so they never race to create a
 * topic (their containers' own call then only finds the topics there).
 */
export async function prepareJobTopics(
  job: JobDefinition,
  log: Log,
): Promise<{ taskCount: number; outputs: OutputTopic[] }> {
  const taskCount = await taskCountOf(job, log);
  const created = { partitions: taskCount, replicationFactor: job.replicationFactor };
  const outputs: OutputTopic[] = [];
  for (const out of job.outputs) {
    const info = await log.ensureTopic(out.topic, { ...created, cleanup: 'delete' }).catch(async (err) => {
      if (err instanceof TopicMismatchError) return log.describeTopic(out.topic);
      throw err;
    });
    outputs.push({ topic: out.topic, partitions: info.partitions.length, key: out.key, value: out.value });
  }
  if (job.onError === 'dead-letter') {
    const dlq = deadLetterTopic(job.name);
    const info = await log.ensureTopic(dlq, { ...created, cleanup: 'delete' });
    outputs.push({
      topic: dlq,
      partitions: info.partitions.length,
      key: defaultKeyCodec,
      value: defaultKeyCodec,
    });
  }
  await ensureChangelogTopics(job, log, taskCount);
  await new CheckpointStore(log, checkpointTopic(job.name), job.replicationFactor).init();
  return { taskCount, outputs };
}
