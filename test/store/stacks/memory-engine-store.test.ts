// The bottom layer alone: EngineStore over the memory engine (bytes in, bytes out).
import { EngineStore } from '../../../src/store/engine-store.js';
import { MemoryEngine } from '../../../src/store/engines/memory-engine.js';
import { bytesCodec, storeSuite } from '../store-suite.js';

storeSuite({
  name: 'memory engine alone (engine-store)',
  open: async () => new EngineStore(new MemoryEngine('t'), { name: 't', trackChangelog: false }),
  codec: bytesCodec,
  supports: { persistent: false, validates: false },
});
