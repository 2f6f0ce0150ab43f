// How far a job running in a Kafka consumer group has got, for tests that wait on it.
import type { Log } from '../../src/log/types.js';
import { CheckpointStore, inputKey } from '../../src/runtime/checkpoint.js';
import type { EddyProcess } from './eddy-process.js';

/** Whether job's checkpoints cover every record of `input` on each of its `partitions`. */
export async function caughtUp(log: Log, job: string, input: string, partitions: number): Promise<boolean> {
  const cps = await new CheckpointStore(log, `__eddy-${job}-checkpoints`).readAll().catch(() => undefined);
  if (!cps) return false;
  for (let p = 0; p < partitions; p++) {
    const end = await log.endOffset(input, p);
    const next = cps.get(`Partition ${p}`)?.inputs[inputKey(input, p)] ?? 0;
    if (next < end) return false;
  }
  return true;
}

/** The last `generation …` line a worker printed (`worker` is its id). */
export function lastGen(p: EddyProcess, worker: string): string {
  return p.lines.filter((l) => l.startsWith('generation') && l.endsWith(`(worker ${worker})`)).pop() ?? '';
}
