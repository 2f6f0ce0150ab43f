// changelog → engine on the memory engine (bytes).
import { EngineStore } from '../../../src/store/engine-store.js';
import { MemoryEngine } from '../../../src/store/engines/memory-engine.js';
import { LoggedStore } from '../../../src/store/logged-store.js';
import { MemoryChangelogSink } from '../../../src/store/memory-changelog-sink.js';
import { bytesCodec, storeSuite } from '../store-suite.js';

storeSuite({
  name: 'memory + changelog',
  open: async () =>
    new LoggedStore(
      new EngineStore(new MemoryEngine('t'), { name: 't', trackChangelog: true }),
      new MemoryChangelogSink(),
    ),
  codec: bytesCodec,
  supports: { persistent: false, validates: false },
});
