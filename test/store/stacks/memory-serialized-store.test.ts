// serde → changelog → engine on the memory engine.
import { EngineStore } from '../../../src/store/engine-store.js';
import { MemoryEngine } from '../../../src/store/engines/memory-engine.js';
import { LoggedStore } from '../../../src/store/logged-store.js';
import { MemoryChangelogSink } from '../../../src/store/memory-changelog-sink.js';
import { serdes } from '../../../src/store/serdes.js';
import { SerializedStore } from '../../../src/store/serialized-store.js';
import { storeSuite, stringCodec } from '../store-suite.js';

storeSuite({
  name: 'memory + changelog + serde',
  open: async () =>
    new SerializedStore(
      new LoggedStore(
        new EngineStore(new MemoryEngine('t'), { name: 't', trackChangelog: true }),
        new MemoryChangelogSink(),
      ),
      { key: serdes.string, value: serdes.string, maxRecordBytes: 1 << 20 },
    ),
  codec: stringCodec,
  supports: { persistent: false, validates: true },
});
