import { RocksDbEngine } from '../../../src/store/engines/rocksdb-engine.js';
import { engineSuite } from '../engine-suite.js';

engineSuite({
  name: 'rocksdb',
  open: (dir) => RocksDbEngine.open({ dir, name: 'test' }),
  supports: { persistent: true, emptyKey: true },
});
