/**
 * Opening partition `p` of a job's store, shared by the container's tasks and the standby tasks:
 * `<dataDir>/stores/<job>/<store>/<p>` (under `jobStateDir`), the store's spec (engine, serdes,
 * cache, TTL, record limit) and `sink` as its changelog. With a cache, dirty entries are written
 * down at the commit, or when the cache evicts one (by its `cacheBytes`, or the job's shared
 * `cacheBudgetBytes`), or once `writeBatchSize` (default: `cacheSize` when given) are dirty: the
 * runtime commits at least every `commitMs`, so a job's writes reach the engine about once per
 * commit.
 *
 * The job's `cacheBudgetBytes` is one `CacheBudget` per job definition in this process (this
 * module's instance: with worker threads, one per thread), shared by every store of every task.
 */
import { join } from 'node:path';
import { CacheBudget } from '../store/cache-budget.js';
import { openStore } from '../store/open-store.js';
import { cacheLimits, hasCache } from '../store/store-schema.js';
import type { JobDefinition } from './job.js';
import { jobStateDir } from './job-lock.js';
import type { LogChangelogSink } from './log-changelog-sink.js';

export async function openJobStore<S>(
  job: JobDefinition,
  dataDir: string,
  name: string,
  partition: number,
  sink: LogChangelogSink | undefined,
): Promise<S> {
  const spec = job.stores[name];
  const limits = cacheLimits(spec, spec.engine);
  const cached = hasCache(limits);
  const budget = cached ? budgetOf(job) : undefined;
  const store = await openStore({
    name: `${name}/${partition}`,
    dir: join(jobStateDir(dataDir, job.name), name, String(partition)),
    engine: spec.engine,
    key: spec.key,
    value: spec.value,
    cacheSize: spec.cacheSize,
    cacheBytes: spec.cacheBytes,
    ...(budget === undefined ? {} : { cacheBudget: budget }),
    // no count limit by default: the commit (or an eviction) writes the dirty entries down
    writeBatchSize: cached
      ? (spec.writeBatchSize ?? (Number.isFinite(limits.entries) ? limits.entries : Number.MAX_SAFE_INTEGER))
      : undefined,
    changelog: sink ?? false,
    ttlMs: spec.ttlMs,
    maxRecordBytes: spec.maxRecordBytes,
    expectedKeys: spec.expectedKeys,
    snapshotMs: spec.snapshotMs,
  } as Parameters<typeof openStore>[0]);
  return store as unknown as S;
}

const budgets = new WeakMap<JobDefinition, CacheBudget>();

/** The job's shared cache budget in this process, created at its first store (none when unset). */
function budgetOf(job: JobDefinition): CacheBudget | undefined {
  if (job.cacheBudgetBytes === undefined) return undefined;
  let budget = budgets.get(job);
  if (budget === undefined) {
    budget = new CacheBudget(job.cacheBudgetBytes);
    budgets.set(job, budget);
  }
  return budget;
}
