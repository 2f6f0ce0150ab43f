/**
 * The table of `eddy` commands. Each command lives in its own module, loaded only when used, so
 * `eddy --help` starts fast and a command's dependencies (LMDB, Kafka) load only when needed.
 */
import { registerCommand } from './main.js';

// Commands are registered here as they are built; see the README for the full list.
void registerCommand;
