/**
 * The job of a runtime benchmark scenario (bench/runtime.ts), as a module: with `--threads N` each
 * worker thread loads the job from its module, so the scenario's job cannot be built inline. Its
 * parameters come from the environment, which a worker thread inherits from the process when it
 * starts (bench/runtime.ts sets them, then imports this module afresh for each run):
 *   EDDY_BENCH_SCENARIO       message-passing | store-only | store-changelog | no-op
 *   EDDY_BENCH_NAME           the job's name; its input is `<name>-in`, its output `<name>-out`
 *   EDDY_BENCH_ENGINE         the store engine of store-only and store-changelog (default lmdb)
 *   EDDY_BENCH_EXACTLY_ONCE   1: exactly-once
 *
 * What each scenario does per message:
 *   message-passing  sends it to the output (keys and values as raw bytes);
 *   store-only       a read-modify-write of its key in the `state` store, no changelog;
 *   store-changelog  the same, with the store's changelog on;
 *   no-op            nothing (the log owner ceiling: what moving the input between threads costs).
 */
import { type Codec, defineJob, type JobStoreSpec } from '../../src/runtime/job.js';
import type { StreamTask } from '../../src/runtime/task.js';
import type { KeyValueStore } from '../../src/store/types.js';

export const JOB_SCENARIOS = ['message-passing', 'store-only', 'store-changelog', 'no-op'] as const;
export type JobScenario = (typeof JOB_SCENARIOS)[number];

const bytes: Codec<unknown> = {
  encode: (v) => v as Uint8Array,
  decode: (b) => b,
};

function task(scenario: JobScenario, output: string): () => StreamTask {
  if (scenario === 'no-op') return () => ({ process() {} });
  if (scenario === 'message-passing') {
    return () => ({
      process(msg, out) {
        out.send({ topic: output, key: msg.rawKey, value: msg.rawValue });
      },
    });
  }
  return () => {
    let store: KeyValueStore<Uint8Array, Uint8Array>;
    return {
      init(ctx) {
        store = ctx.store('state');
      },
      process(msg) {
        const key = msg.rawKey as Buffer;
        const prev = store.get(key);
        store.put(key, prev === undefined ? (msg.rawValue as Buffer) : prev);
      },
    };
  };
}

const scenario = (process.env.EDDY_BENCH_SCENARIO ?? 'message-passing') as JobScenario;
if (!(JOB_SCENARIOS as readonly string[]).includes(scenario)) {
  throw new Error(`EDDY_BENCH_SCENARIO=${scenario}: one of ${JOB_SCENARIOS.join(', ')}`);
}
const name = process.env.EDDY_BENCH_NAME ?? `bench-${scenario}`;
const engine = (process.env.EDDY_BENCH_ENGINE ?? 'lmdb') as NonNullable<JobStoreSpec['engine']>;
const input = `${name}-in`;
const output = `${name}-out`;
const withStore = scenario === 'store-only' || scenario === 'store-changelog';

export default defineJob({
  name,
  inputs: [{ topic: input, key: bytes, value: bytes }],
  outputs: scenario === 'message-passing' ? [{ topic: output, key: bytes, value: bytes }] : [],
  stores: withStore
    ? {
        state: {
          engine,
          key: bytes,
          value: bytes,
          // the memory engine has no cache by default (a hash probe costs less than the LRU)
          ...(engine === 'memory' ? {} : { cacheSize: 100_000 }),
          changelog: scenario === 'store-changelog',
        },
      }
    : {},
  task: task(scenario, output),
  commitMs: 1000,
  exactlyOnce: process.env.EDDY_BENCH_EXACTLY_ONCE === '1',
});
