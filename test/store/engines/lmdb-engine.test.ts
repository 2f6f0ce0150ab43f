import { LMDB_MAX_KEY_SIZE, LmdbEngine } from '../../../src/store/engines/lmdb-engine.js';
import { engineSuite } from '../engine-suite.js';

engineSuite({
  name: 'lmdb',
  open: (dir) => LmdbEngine.open({ dir, name: 'test' }),
  supports: { persistent: true, emptyKey: false, maxKeySize: LMDB_MAX_KEY_SIZE },
});
