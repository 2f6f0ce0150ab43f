/**
 * `eddy bench <name> [options]`: runs one of the benchmarks of `bench/` (`bench/<name>.ts`) in a
 * child process, through tsx, passing the options on. The benchmarks live in the source checkout,
 * next to the code they measure.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../util/errors.js';
import type { CommandIO } from './main.js';

function benchDir(): string | undefined {
  for (const rel of ['../../bench', '../../../bench']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

const HELP = (names: string[]) => `Usage: eddy bench <name> [options]

Runs a benchmark of bench/ and prints its figures. Benchmarks: ${names.join(', ')}.
  eddy bench runtime [--messages N] [--keys N] [--partitions N] [--scenario message-passing|store-only|store-changelog]
                     [--engine lmdb|rocksdb|memory] [--brokers HOST:PORT,... (on Kafka)] [--exactly-once]
                     [--threads N or 1,2 (each count in the same run, with its ratio to the first)
                     [--rounds R (each count R times, the order alternating; the median ratio)]]
                     (after store-changelog on lmdb: "lmdb-js alone", the same store work on bare lmdb-js)
  eddy bench runtime --ceiling [--threads N] [--partitions N]  (the log owner: no-op and pass-through tasks on
                     1..N threads, records/s moved, the main loop's busy share, where it saturates)
  eddy bench runtime --http [--pairs 3]  (scenario 3 with --http off and on, interleaved, a scraper
                     polling /metrics every second: each pair's ratios of msgs/s and per CPU-second, medians)
  eddy bench store [--keys N] [--gets N] [--engines lmdb,rocksdb,memory]
  eddy bench log [--rounds N]
  eddy bench kafka [--keys N] [--fo-keys N] [--reps N] [--engine lmdb|memory|rocksdb] [--skip-restore]
                   [--skip-failover] [--brokers HOST:PORT (a running broker; no failover)]
  eddy bench latency [--rates 10000,100000] [--seconds N] [--modes at-least-once,exactly-once]
                     [--partitions N] [--commit-ms N]  (produce -> output visible, p50/p99/max)
  eddy bench query [--lookups 10000] [--keys 100000] [--rate 20000] [--partitions 4]
                     (key lookups over HTTP and the control socket while the job processes, p50/p99)
`;

export async function benchCommand(args: string[], io: CommandIO): Promise<number> {
  const dir = benchDir();
  if (dir === undefined)
    throw new InvalidArgumentError(
      'no bench/ directory next to this installation; run eddy bench from a source checkout',
    );
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.includes('-'))
    .map((f) => f.slice(0, -3))
    .sort();
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h') {
    io.out(HELP(names));
    return name === undefined ? 2 : 0;
  }
  if (!names.includes(name))
    throw new InvalidArgumentError(`unknown benchmark "${name}"; one of ${names.join(', ')}`);
  return await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${dir}/${name}.ts`, ...rest], {
      stdio: 'inherit',
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
