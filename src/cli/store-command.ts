/**
 * `eddy store get|range|dump|stats`: reads a job's local stores, straight from the engine, while the
 * job is stopped. A running job (it holds the `LOCK` of `<dataDir>/stores/<job>`) is asked through
 * its control socket instead (live-store.ts): its current values, never its engine files.
 *
 * Keys on the command line are UTF-8 text (or hex with --hex). Keys and values print as text when
 * they are printable UTF-8, else as 0x-hex; a JSON value prints as it is.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { jobStateDir, runningPid } from '../runtime/job-lock.js';
import { openEngineAsync } from '../store/engines/index.js';
import type { StorageEngine } from '../store/types.js';
import { describeBytes } from '../util/bytes.js';
import { InvalidArgumentError } from '../util/errors.js';
import { dataDirOf, expectPositionals, intOption, parseCommandArgs } from './args.js';
import { liveStoreCommand } from './live-store.js';
import type { CommandIO } from './main.js';
import { show } from './store-format.js';

const HELP = `Usage:
  eddy store get KEY --job NAME --store NAME [--partition P]
  eddy store range FROM TO --job NAME --store NAME [--partition P] [--limit N]
  eddy store dump --job NAME --store NAME [--partition P] [--limit N]
  eddy store stats --job NAME --store NAME [--json]

Reads a job's local stores: from its files while the job is stopped, through the job itself while
it runs (its current values, including writes not committed yet). Without --partition,
get/range/dump look in every partition. Keys are UTF-8 text (--hex: hexadecimal bytes). Output: key<TAB>value lines.

Options:
  --job NAME        the job's name
  --store NAME      the store's name
  --partition P     one partition (task) only
  --limit N         at most N entries (range, dump)
  --hex             keys on the command line are hex
  --json            stats: print one JSON object (engine, partitions with keys and bytes, total)
  --data-dir DIR    the job's data directory (default ./eddy-data; env EDDY_DATA_DIR)
  -h, --help        show this help
`;

const OPTIONS = {
  job: { type: 'string' },
  store: { type: 'string' },
  partition: { type: 'string' },
  limit: { type: 'string' },
  hex: { type: 'boolean' },
  json: { type: 'boolean' },
  'data-dir': { type: 'string' },
} as const;

function dirSize(path: string): number {
  let total = 0;
  for (const name of readdirSync(path)) {
    const p = join(path, name);
    const st = statSync(p);
    total += st.isDirectory() ? dirSize(p) : st.size;
  }
  return total;
}

export async function storeCommand(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals, help } = parseCommandArgs('store', args, OPTIONS);
  if (help || positionals.length === 0) {
    io.out(HELP);
    return help ? 0 : 2;
  }
  const [action, ...rest] = positionals;
  if (values.json === true && action !== 'stats') {
    throw new InvalidArgumentError('option --json is only for "eddy store stats"');
  }
  const job = values.job;
  const storeName = values.store;
  if (typeof job !== 'string' || typeof storeName !== 'string') {
    throw new InvalidArgumentError('eddy store needs --job NAME and --store NAME; see "eddy store --help"');
  }
  const dataDir = dataDirOf(values);
  const pid = runningPid(dataDir, job);
  // a running job answers through its control socket, never by opening its engine files here
  if (pid !== undefined)
    return liveStoreCommand({ action, rest, values, dataDir, job, store: storeName, pid, io });
  const root = join(jobStateDir(dataDir, job), storeName);
  if (!existsSync(root)) {
    throw new InvalidArgumentError(
      `no store "${storeName}" of job "${job}" in ${dataDir} (looked in ${root})`,
    );
  }
  const meta = JSON.parse(readFileSync(join(root, 'store.json'), 'utf8')) as {
    engine: 'lmdb' | 'rocksdb' | 'memory';
  };
  if (meta.engine === 'memory')
    throw new InvalidArgumentError(`store "${storeName}" uses the memory engine: nothing on disk`);
  const all = readdirSync(root)
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  const only = intOption(values, 'partition', undefined, 0);
  const partitions = only === undefined ? all : all.filter((p) => p === only);
  if (only !== undefined && partitions.length === 0) {
    throw new InvalidArgumentError(
      `store "${storeName}" has no partition ${only} (partitions: ${all.join(', ')})`,
    );
  }
  const limit = intOption(values, 'limit', Number.MAX_SAFE_INTEGER, 1) as number;
  const key = (text: string) => (values.hex ? Buffer.from(text, 'hex') : Buffer.from(text, 'utf8'));

  const withEngine = async <T>(p: number, fn: (e: StorageEngine) => T): Promise<T> => {
    const engine = await openEngineAsync(meta.engine, {
      dir: join(root, String(p)),
      name: `${storeName}/${p}`,
    });
    try {
      return fn(engine);
    } finally {
      await engine.close();
    }
  };

  switch (action) {
    case 'get': {
      const [k] = expectPositionals('store get', rest, ['KEY']);
      let found = false;
      for (const p of partitions) {
        const v = await withEngine(p, (e) => e.get(key(k)));
        if (v !== undefined) {
          io.out(`${show(v)}\n`);
          found = true;
        }
      }
      if (!found) io.err(`key ${describeBytes(key(k))} not found in ${storeName}\n`);
      return found ? 0 : 1;
    }
    case 'range':
    case 'dump': {
      const bounds = action === 'range' ? expectPositionals('store range', rest, ['FROM', 'TO']) : [];
      expectPositionals(`store ${action}`, action === 'dump' ? rest : [], []);
      let count = 0;
      for (const p of partitions) {
        if (count >= limit) break;
        await withEngine(p, (e) => {
          const cursor = e.range(
            bounds[0] === undefined ? undefined : key(bounds[0]),
            bounds[1] === undefined ? undefined : key(bounds[1]),
          );
          try {
            for (let entry = cursor.next(); entry !== undefined && count < limit; entry = cursor.next()) {
              io.out(`${show(entry.key)}\t${show(entry.value)}\n`);
              count++;
            }
          } finally {
            cursor.close();
          }
        });
      }
      io.err(`${count} entries\n`);
      return 0;
    }
    case 'stats': {
      expectPositionals('store stats', rest, []);
      const json = values.json === true;
      const rows: Record<string, unknown>[] = [];
      if (!json)
        io.out(`store ${storeName} of job ${job}: engine ${meta.engine}, ${all.length} partitions\n`);
      let totalKeys = 0;
      for (const p of partitions) {
        const s = await withEngine(p, (e) => {
          let keys = 0;
          let keyBytes = 0;
          let valueBytes = 0;
          const cursor = e.range(undefined, undefined);
          try {
            for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) {
              keys++;
              keyBytes += entry.key.length;
              valueBytes += entry.value.length;
            }
          } finally {
            cursor.close();
          }
          const m = e.readMeta();
          return {
            keys,
            keyBytes,
            valueBytes,
            marker: m === undefined ? 'none' : Buffer.from(m).toString('utf8'),
          };
        });
        totalKeys += s.keys;
        const diskBytes = dirSize(join(root, String(p)));
        rows.push({
          partition: p,
          keys: s.keys,
          dataBytes: s.keyBytes + s.valueBytes,
          diskBytes,
          marker: s.marker,
        });
        if (json) continue;
        io.out(
          `  partition ${p}: ${s.keys} keys, ${s.keyBytes + s.valueBytes} bytes of data, ${diskBytes} bytes on disk, changelog marker ${s.marker}\n`,
        );
      }
      if (json) {
        const stats = { job, store: storeName, engine: meta.engine, partitions: rows, totalKeys };
        io.out(`${JSON.stringify(stats)}\n`);
      } else io.out(`  total: ${totalKeys} keys\n`);
      return 0;
    }
    default:
      throw new InvalidArgumentError(
        `unknown action "${action}" for "eddy store"; use get, range, dump or stats`,
      );
  }
}
