/**
 * `eddy store get|range|dump|stats` against a RUNNING job: asked through the job's control socket
 * (runtime/control-server.ts, store-queries.ts), never by opening its engine files from this
 * process. The answers are the task's current values (writes not committed yet included), each
 * request read in one turn of the job's event loop. Output is the same as for a stopped job;
 * `range`/`dump` page through the job 1000 entries at a time, partition by partition.
 */

import type { PartitionState } from '../runtime/control/index.js';
import { controlRequest } from '../runtime/control/index.js';
import { jobStateDir } from '../runtime/job-lock.js';
import { describeBytes } from '../util/bytes.js';
import { DirLock } from '../util/dir-lock.js';
import { InvalidArgumentError } from '../util/errors.js';
import { expectPositionals, intOption, type ParsedArgs } from './args.js';
import type { CommandIO } from './main.js';
import { show } from './store-format.js';

export interface LiveStoreArgs {
  action: string;
  rest: string[];
  values: ParsedArgs['values'];
  dataDir: string;
  job: string;
  store: string;
  pid: number;
  io: CommandIO;
}

const PAGE = 1000;

interface WireEntry {
  partition: number;
  key: string;
  value: string;
}

function restoringNote(s: PartitionState): string {
  return s.restoring ? ` (restoring: ${s.restored} of ${s.total ?? '?'} records so far)` : '';
}

export async function liveStoreCommand(a: LiveStoreArgs): Promise<number> {
  const { io, values, job, store } = a;
  const ownerAlive = (): boolean => DirLock.holder(jobStateDir(a.dataDir, job)) !== undefined;
  const ask = async <T>(header: Record<string, unknown>): Promise<T> =>
    (await controlRequest<T>(a.dataDir, { job, store, ...header }, undefined, { ownerAlive })).result;
  const only = intOption(values, 'partition', undefined, 0);
  const limit = intOption(values, 'limit', Number.MAX_SAFE_INTEGER, 1) as number;
  const key = (text: string): Buffer => (values.hex ? Buffer.from(text, 'hex') : Buffer.from(text, 'utf8'));

  switch (a.action) {
    case 'get': {
      const [k] = expectPositionals('store get', a.rest, ['KEY']);
      const { answers } = await ask<{ answers: (PartitionState & { value: string | null })[] }>({
        op: 'store.get',
        key: key(k).toString('base64'),
        ...(only === undefined ? { all: true } : { partition: only }),
      });
      let found = false;
      for (const answer of answers) {
        if (answer.value === null) continue;
        io.out(`${show(Buffer.from(answer.value, 'base64'))}\n`);
        found = true;
      }
      if (!found) io.err(`key ${describeBytes(key(k))} not found in ${store}\n`);
      for (const answer of answers)
        if (answer.restoring) io.err(`partition ${answer.partition}${restoringNote(answer)}\n`);
      return found ? 0 : 1;
    }
    case 'range':
    case 'dump': {
      const bounds = a.action === 'range' ? expectPositionals('store range', a.rest, ['FROM', 'TO']) : [];
      expectPositionals(`store ${a.action}`, a.action === 'dump' ? a.rest : [], []);
      const { partitions: all } = await ask<{ partitions: number[] }>({ op: 'store.partitions' });
      const partitions = only === undefined ? all : all.filter((p) => p === only);
      if (only !== undefined && partitions.length === 0) {
        throw new InvalidArgumentError(
          `store "${store}" has no partition ${only} open in the running job (partitions: ${all.join(', ')})`,
        );
      }
      let count = 0;
      for (const p of partitions) {
        let from: Buffer | undefined = bounds[0] === undefined ? undefined : key(bounds[0]);
        const to = bounds[1] === undefined ? undefined : key(bounds[1]);
        while (count < limit) {
          const page = await ask<{ entries: WireEntry[]; more: boolean }>({
            op: 'store.range',
            from: from?.toString('base64'),
            to: to?.toString('base64'),
            limit: Math.min(PAGE, limit - count),
            partitions: [p],
          });
          for (const e of page.entries) {
            io.out(`${show(Buffer.from(e.key, 'base64'))}\t${show(Buffer.from(e.value, 'base64'))}\n`);
          }
          count += page.entries.length;
          if (!page.more || page.entries.length === 0) break;
          // the next page starts right after the last key: that key with a 0x00 byte appended
          from = Buffer.concat([
            Buffer.from(page.entries[page.entries.length - 1].key, 'base64'),
            Buffer.alloc(1),
          ]);
        }
        if (count >= limit) break;
      }
      io.err(`${count} entries\n`);
      return 0;
    }
    case 'stats': {
      expectPositionals('store stats', a.rest, []);
      const s = await ask<{
        partitions: (PartitionState & { keys: number; keyBytes: number; valueBytes: number })[];
      }>({
        op: 'store.stats',
      });
      io.out(
        `store ${store} of job ${job}: running (process ${a.pid}), ${s.partitions.length} partitions open\n`,
      );
      let total = 0;
      for (const p of s.partitions) {
        if (only !== undefined && p.partition !== only) continue;
        total += p.keys;
        io.out(
          `  partition ${p.partition}: ${p.keys} keys, ${p.keyBytes + p.valueBytes} bytes of data, changelog offset ${p.changelogOffset ?? 'none'}${restoringNote(p)}\n`,
        );
      }
      io.out(`  total: ${total} keys\n`);
      return 0;
    }
    default:
      throw new InvalidArgumentError(
        `unknown action "${a.action}" for "eddy store"; use get, range, dump or stats`,
      );
  }
}
