/**
 * The `EDDY_*` environment variables Eddy reads, in one list, so that a misspelled one is warned
 * about instead of being ignored silently (`EDDY_DATADIR` → "did you mean EDDY_DATA_DIR?").
 *
 * Every variable any part of Eddy (sources, scripts, tests, benchmarks) reads must be listed here;
 * `test/cli/env.test.ts` scans the repository and fails on one that is not.
 */

import { editDistance } from '../util/edit-distance.js';
import { RUN_ENV_VARS } from './run-config.js';

/** Each variable Eddy reads, with what it sets: every key of `eddy run`'s configuration, and these. */
export const KNOWN_ENV: Readonly<Record<string, string>> = {
  ...Object.fromEntries(
    RUN_ENV_VARS.map((name) => [name, 'a configuration key of eddy run (eddy run --help)']),
  ),
  EDDY_BACKEND: 'the log of eddy run, topics, produce, consume: embedded or kafka',
  EDDY_BROKERS: 'Kafka bootstrap servers, host:port,...',
  EDDY_DATA_DIR: 'the data directory (embedded log and stores)',
  EDDY_FSYNC: "the embedded log's fsync policy of eddy run",
  EDDY_WORKER_ID: "a Kafka worker's id",
  EDDY_FROM_SOURCE: 'bin/eddy.js runs the TypeScript sources instead of the build',
  // development: tests, scripts and benchmarks
  EDDY_TEST_CONCURRENCY: 'scripts/run-tests.mjs: test files run at once',
  EDDY_TEST_SEED: 'the seed of randomized tests',
  EDDY_TEST_VERBOSE: "Kafka tests print their eddy processes' output",
  EDDY_STORE_SEED: 'the seed of the store model tests',
  EDDY_CRASH_SEED: 'the seed of the crash test',
  EDDY_CRASH_SEGMENT_BYTES:
    'segmentBytes of the crash test job changelog (small: compaction runs under the kills)',
  EDDY_CRASH_MESSAGES: 'messages of the crash test',
  EDDY_CRASH_KILLS: 'SIGKILLs of the crash test',
  EDDY_CRASH_MEMORY_MESSAGES: 'messages of the crash test on the memory engine',
  EDDY_CRASH_MEMORY_KILLS: 'SIGKILLs of the crash test on the memory engine',
  EDDY_CRASH_THREADS_MESSAGES: 'messages of the crash test with --threads 2',
  EDDY_CRASH_THREADS_KILLS: 'SIGKILLs of the crash test with --threads 2',
  EDDY_CONFORMANCE_SEED: 'the seed of the threads-1-vs-3 conformance test',
  EDDY_PENDING_SEED: 'the seed of the deferred-writes index model test (test/store/pending-writes.test.ts)',
  EDDY_CONFORMANCE_MESSAGES: 'messages of the threads-1-vs-3 conformance test',
  EDDY_BENCH_SCENARIO: 'set by bench/runtime.ts: the scenario its job module runs (read in every thread)',
  EDDY_BENCH_NAME: 'set by bench/runtime.ts: the name of the scenario job',
  EDDY_BENCH_ENGINE: "set by bench/runtime.ts: the scenario job's store engine",
  EDDY_BENCH_EXACTLY_ONCE: 'set by bench/runtime.ts: 1 when the scenario job is exactly-once',
  EDDY_BENCH_LINES: "bench/kafka.ts: 1 prints the failover survivors' stderr lines, timed from the detection",
  EDDY_HTTP_TOKEN: 'the bearer token of --http write endpoints (eddy run, eddy demo)',
  EDDY_HTTP_PORT_OFFSET: "set by the supervisor: a worker's --http port is PORT + its slot",
  EDDY_SCREENSHOT_DIR: 'where the dashboard test saves its screenshot',
  EDDY_KAFKA_VERSION: 'scripts/kafka: the Kafka version',
  EDDY_KAFKA_HEAP: "scripts/kafka: the broker's heap",
  EDDY_KAFKA_KEEP: 'scripts/kafka: keep the broker directories',
  EDDY_KAFKA_START_TIMEOUT: 'scripts/kafka: how long a broker may take to start',
};

/** The known variable closest to `name`, if one is close enough to be a likely misspelling. */
export function closestKnown(
  name: string,
  known: readonly string[] = Object.keys(KNOWN_ENV),
): string | undefined {
  const squash = (s: string) => s.replace(/_/g, '');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    // underscores are the commonest slip (EDDY_DATADIR): compare without them first
    const d = squash(k) === squash(name) ? 0 : editDistance(k, name);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

/** One warning line per `EDDY_*` variable of `env` that Eddy does not read. */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv = process.env): string[] {
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('EDDY_') || name in KNOWN_ENV) continue;
    const near = closestKnown(name);
    warnings.push(
      `eddy: warning: unknown environment variable ${name} is ignored${near === undefined ? '' : ` (did you mean ${near}?)`}`,
    );
  }
  return warnings;
}
