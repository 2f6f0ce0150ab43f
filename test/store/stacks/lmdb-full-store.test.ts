// The full stack from openStore on LMDB (persistent: the model test closes and reopens).
import { MemoryChangelogSink, openStore, serdes } from '../../../src/store/index.js';
import { storeSuite, stringCodec } from '../store-suite.js';

storeSuite({
  name: 'lmdb, full stack',
  open: (dir) =>
    openStore({
      dir,
      engine: 'lmdb',
      key: serdes.string,
      value: serdes.string,
      cacheSize: 32,
      writeBatchSize: 16,
      changelog: new MemoryChangelogSink(),
    }),
  codec: stringCodec,
  supports: { persistent: true, validates: true },
  modelOps: 2000,
});
