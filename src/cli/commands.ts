/**
 * The table of `eddy` commands. Each command lives in its own module, loaded only when used, so
 * `eddy --help` starts fast and a command's dependencies (LMDB, Kafka) load only when needed.
 */
import { registerCommand } from './main.js';

registerCommand(
  'demo',
  'run the shopping-cart job on the embedded log with generated events',
  async () => (await import('./demo-command.js')).demoCommand,
);
registerCommand(
  'run',
  'run a job file (.ts, .mts, .js, .mjs) until SIGINT/SIGTERM',
  async () => (await import('./run-command.js')).runCommand,
);
registerCommand(
  'store',
  "read a job's local stores (get, range, dump, stats)",
  async () => (await import('./store-command.js')).storeCommand,
);
registerCommand(
  'topics',
  'topics of the embedded log or Kafka: create, list, describe, delete, compact, truncate',
  async () => (await import('./topics-command.js')).topicsCommand,
);
registerCommand(
  'produce',
  'append records from stdin (key<TAB>value or JSON lines) to a topic',
  async () => (await import('./produce-command.js')).produceCommand,
);
registerCommand(
  'consume',
  'print the records of a topic (--from-beginning, --offset, --follow)',
  async () => (await import('./consume-command.js')).consumeCommand,
);
registerCommand(
  'bench',
  'run a benchmark of bench/ (runtime, store, log, kafka)',
  async () => (await import('./bench-command.js')).benchCommand,
);
