/** Runs the `eddy` command line with this process's arguments (used by bin/eddy.js and tests). */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
