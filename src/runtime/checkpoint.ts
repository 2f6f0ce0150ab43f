/**
 * Checkpoints: for each task, the next input offset of every input partition and the last changelog
 * offset of every store, written together as ONE record per task to the job's checkpoint topic
 * (`__eddy-<job>-checkpoints`, one partition, compacted, keyed by task name) — Samza's checkpoint
 * topic. Because it is a log record, it commits in the same log transaction as the changelog and
 * output records under `exactlyOnce`, on the embedded log and on Kafka alike.
 *
 * Reading takes the last record per task (a full scan of the compacted topic: it holds one live
 * record per task). A record that does not decode is a `CheckpointError` naming its offset — never
 * silently replaced by "start from scratch".
 */
import type { AppendRecord, Log, LogTransaction } from '../log/types.js';
import { CheckpointError } from '../util/errors.js';

export interface Checkpoint {
  readonly task: string;
  /** `<topic>/<partition>` → the next offset to process. */
  readonly inputs: Readonly<Record<string, number>>;
  /** store name → the offset of its last changelog record covered by this checkpoint (-1: none). */
  readonly changelogs: Readonly<Record<string, number>>;
  readonly timestamp: number;
}

const VERSION = 1;

export function inputKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

export function encodeCheckpoint(cp: Checkpoint): AppendRecord {
  return {
    key: Buffer.from(cp.task, 'utf8'),
    value: Buffer.from(JSON.stringify({ v: VERSION, ...cp }), 'utf8'),
    timestamp: cp.timestamp,
  };
}

export function decodeCheckpoint(value: Buffer, where: string): Checkpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (cause) {
    throw new CheckpointError(`checkpoint record at ${where} is not JSON`, { cause });
  }
  const cp = parsed as Checkpoint & { v?: number };
  if (
    cp?.v !== VERSION ||
    typeof cp.task !== 'string' ||
    typeof cp.inputs !== 'object' ||
    typeof cp.changelogs !== 'object'
  ) {
    throw new CheckpointError(
      `checkpoint record at ${where} has an unknown layout (version ${cp?.v}); it was written by another Eddy version`,
    );
  }
  return { task: cp.task, inputs: cp.inputs, changelogs: cp.changelogs, timestamp: cp.timestamp };
}

/** Reads and writes one job's checkpoints. */
export class CheckpointStore {
  constructor(
    private readonly log: Log,
    readonly topic: string,
    private readonly replicationFactor = 1,
  ) {}

  async init(): Promise<void> {
    await this.log.ensureTopic(this.topic, {
      partitions: 1,
      cleanup: 'compact',
      replicationFactor: this.replicationFactor,
    });
  }

  /** The latest checkpoint of every task that has one. */
  async readAll(): Promise<Map<string, Checkpoint>> {
    const out = new Map<string, Checkpoint>();
    let offset = await this.log.earliestOffset(this.topic, 0);
    const end = await this.log.endOffset(this.topic, 0);
    while (offset < end) {
      const records = await this.log.read(this.topic, 0, offset, { maxRecords: 10_000 });
      if (records.length === 0) break;
      for (const r of records) {
        if (r.key === null || r.value === null) continue;
        const cp = decodeCheckpoint(r.value, `${this.topic}/0@${r.offset}`);
        out.set(cp.task, cp);
      }
      offset = records[records.length - 1].offset + 1;
    }
    return out;
  }

  /** Appends the checkpoints (in the transaction when given). Durable once the log/transaction is. */
  async write(checkpoints: readonly Checkpoint[], txn?: LogTransaction): Promise<void> {
    if (checkpoints.length === 0) return;
    const records = checkpoints.map(encodeCheckpoint);
    if (txn) await txn.append(this.topic, 0, records);
    else await this.log.append(this.topic, 0, records);
  }
}
