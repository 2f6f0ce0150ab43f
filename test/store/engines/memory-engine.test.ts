import { MemoryEngine } from '../../../src/store/engines/memory-engine.js';
import { engineSuite } from '../engine-suite.js';

engineSuite({
  name: 'memory',
  open: () => new MemoryEngine('test'),
  supports: { persistent: false, emptyKey: true },
});
