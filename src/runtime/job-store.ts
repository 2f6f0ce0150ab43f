/**
 * Opening partition `p` of a job's store, shared by the container's tasks and the standby tasks:
 * `<dataDir>/stores/<job>/<store>/<p>` (under `jobStateDir`), the store's spec (engine, serdes,
 * cache, TTL, record limit) and `sink` as its changelog. With a cache, dirty entries are written
 * down once the whole cache is dirty (`writeBatchSize` defaults to `cacheSize`): the runtime commits
 * at least every `commitMs`, so a job's writes reach the engine about once per commit.
 */
import { join } from 'node:path';
import { openStore } from '../store/open-store.js';
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
  const store = await openStore({
    name: `${name}/${partition}`,
    dir: join(jobStateDir(dataDir, job.name), name, String(partition)),
    engine: spec.engine,
    key: spec.key,
    value: spec.value,
    cacheSize: spec.cacheSize,
    writeBatchSize: spec.cacheSize === 0 ? undefined : (spec.writeBatchSize ?? spec.cacheSize),
    changelog: sink ?? false,
    ttlMs: spec.ttlMs,
    maxRecordBytes: spec.maxRecordBytes,
    expectedKeys: spec.expectedKeys,
    snapshotMs: spec.snapshotMs,
  } as Parameters<typeof openStore>[0]);
  return store as unknown as S;
}
