/**
 * Writes schema/eddy-config.schema.json, the JSON Schema of `eddy run --config FILE`, from the
 * configuration's schema (src/cli/run-config.ts). `npm run schema`; a test fails when the committed
 * file is stale.
 */
import { writeFileSync } from 'node:fs';
import { runConfigJsonSchema } from '../src/cli/run-config.js';

const file = new URL('../schema/eddy-config.schema.json', import.meta.url);
writeFileSync(file, `${JSON.stringify(runConfigJsonSchema(), null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
