/**
 * Importing Eddy does not load the Kafka client (`@platformatic/kafka`, ~0.6 s to import): a job
 * module, each task thread loading it and the CLI on the embedded log start without it, and
 * `openKafkaLog` loads it when first called. Checked in a child process whose module resolutions
 * are watched by a loader hook.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from '../../helpers/tmp.js';

const INDEX = fileURLToPath(new URL('../../../src/index.ts', import.meta.url));

test('importing eddy leaves the Kafka client unloaded until openKafkaLog is called', (t) => {
  const dir = tempDir(t);
  // the hook (on the loader's thread) and the script append to one file, synchronously: its lines
  // are in the order things happened
  const trace = JSON.stringify(join(dir, 'trace'));
  const hook = join(dir, 'hook.mjs');
  writeFileSync(
    hook,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier === '@platformatic/kafka') appendFileSync(${trace}, 'kafka client resolved\\n');
  return next(specifier, context);
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`,
  );
  const script = `
import { appendFileSync } from 'node:fs';
const eddy = await import(${JSON.stringify(pathToFileURL(INDEX).href)});
const log = await eddy.openEmbeddedLog({ dir: ${JSON.stringify(join(dir, 'log'))} });
await log.ensureTopic('t', { partitions: 1 });
await log.close();
appendFileSync(${trace}, 'eddy imported, embedded log used\\n');
try {
  await eddy.openKafkaLog({ brokers: ['127.0.0.1:9'], connectTimeoutMs: 500, retries: 0 });
  appendFileSync(${trace}, 'connected?\\n');
} catch (err) {
  appendFileSync(${trace}, 'openKafkaLog: ' + err.name + '\\n');
}
`;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', register, '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(join(dir, 'trace'), 'utf8').trim().split('\n');
  // nothing resolved the client before openKafkaLog; then it did, and the connection failed
  assert.deepEqual(
    lines.slice(0, 2),
    ['eddy imported, embedded log used', 'kafka client resolved'],
    r.stderr,
  );
  assert.match(lines.at(-1) ?? '', /^openKafkaLog: \w+Error$/, r.stderr);
});
