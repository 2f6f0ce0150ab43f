// serde → cache → changelog → engine on the memory engine, the cache sized in bytes under a tiny
// budget it shares with a sibling cache that holds part of it: evictions by bytes and by the
// shared budget (each writing the dirty entries down first) happen all the time.
import { CacheBudget } from '../../../src/store/cache-budget.js';
import { CachedStore } from '../../../src/store/cached-store.js';
import { EngineStore } from '../../../src/store/engine-store.js';
import { MemoryEngine } from '../../../src/store/engines/memory-engine.js';
import { LoggedStore } from '../../../src/store/logged-store.js';
import { MemoryChangelogSink } from '../../../src/store/memory-changelog-sink.js';
import { serdes } from '../../../src/store/serdes.js';
import { SerializedStore } from '../../../src/store/serialized-store.js';
import { storeSuite, stringCodec } from '../store-suite.js';

function logged(name: string): LoggedStore {
  return new LoggedStore(
    new EngineStore(new MemoryEngine(name), { name, trackChangelog: true }),
    new MemoryChangelogSink(),
  );
}

storeSuite({
  name: 'memory + changelog + serde + cache in bytes under a shared budget',
  open: async () => {
    const budget = new CacheBudget(6_000);
    const sibling = new CachedStore(logged('sibling'), {
      cacheBytes: 1 << 20,
      writeBatchSize: 1 << 20,
      budget,
    });
    for (let i = 0; i < 10; i++) sibling.put(Buffer.from(`s${i}`), Buffer.alloc(100, 1));
    return new SerializedStore(
      new CachedStore(logged('t'), { cacheBytes: 4_000, writeBatchSize: 64, budget }),
      { key: serdes.string, value: serdes.string, maxRecordBytes: 1 << 20 },
    );
  },
  codec: stringCodec,
  supports: { persistent: false, validates: true },
});
