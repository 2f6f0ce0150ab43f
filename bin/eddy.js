#!/usr/bin/env node
// The `eddy` command. Runs the compiled CLI when it is built (npm install builds it);
// falls back to the TypeScript sources through tsx in a source checkout without a build.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(compiled)) {
  const { main } = await import(compiled.href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  await import('tsx/esm');
  const { main } = await import(new URL('../src/cli/main.ts', import.meta.url).href);
  process.exitCode = await main(process.argv.slice(2));
}
