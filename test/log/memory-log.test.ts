import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { logSuite } from './log-suite.js';

logSuite({
  name: 'memory',
  open: async () => new MemoryLog(),
  supports: { truncate: true, transactions: true, persistent: false },
});
