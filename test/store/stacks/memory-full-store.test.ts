// The full stack from openStore (serde → metrics → cache → changelog → engine), memory engine.
import { MemoryChangelogSink, openStore, serdes } from '../../../src/store/index.js';
import { storeSuite, stringCodec } from '../store-suite.js';

storeSuite({
  name: 'memory, full stack',
  open: () =>
    openStore({
      engine: 'memory',
      key: serdes.string,
      value: serdes.string,
      cacheSize: 32,
      writeBatchSize: 16,
      changelog: new MemoryChangelogSink(),
    }),
  codec: stringCodec,
  supports: { persistent: false, validates: true },
});
