// serde → cache → changelog → engine on the memory engine, with a tiny cache so that evictions and
// batch-size flushes happen all the time.
import { CachedStore } from '../../../src/store/cached-store.js';
import { EngineStore } from '../../../src/store/engine-store.js';
import { MemoryEngine } from '../../../src/store/engines/memory-engine.js';
import { LoggedStore } from '../../../src/store/logged-store.js';
import { MemoryChangelogSink } from '../../../src/store/memory-changelog-sink.js';
import { serdes } from '../../../src/store/serdes.js';
import { SerializedStore } from '../../../src/store/serialized-store.js';
import { storeSuite, stringCodec } from '../store-suite.js';

storeSuite({
  name: 'memory + changelog + serde + cache',
  open: async () =>
    new SerializedStore(
      new CachedStore(
        new LoggedStore(
          new EngineStore(new MemoryEngine('t'), { name: 't', trackChangelog: true }),
          new MemoryChangelogSink(),
        ),
        { cacheSize: 16, writeBatchSize: 8 },
      ),
      { key: serdes.string, value: serdes.string, maxRecordBytes: 1 << 20 },
    ),
  codec: stringCodec,
  supports: { persistent: false, validates: true },
});
