#!/usr/bin/env node
// The `eddy` command. Runs the compiled CLI (npm install builds it); in a source checkout without
// a build, or with EDDY_FROM_SOURCE=1, runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/cli/entry.js', import.meta.url);
if (existsSync(compiled) && process.env.EDDY_FROM_SOURCE !== '1') {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/entry.ts', import.meta.url).href);
}
