// The full stack with the TTL layer (a clock that never reaches the expiry), memory engine.
import { MemoryChangelogSink, openStore, serdes } from '../../../src/store/index.js';
import { storeSuite, stringCodec } from '../store-suite.js';

storeSuite({
  name: 'memory, full stack + ttl',
  open: () =>
    openStore({
      engine: 'memory',
      key: serdes.string,
      value: serdes.string,
      cacheSize: 32,
      writeBatchSize: 16,
      changelog: new MemoryChangelogSink(),
      ttlMs: 60_000,
      now: () => 1_000,
    }),
  codec: stringCodec,
  supports: { persistent: false, validates: true },
});
