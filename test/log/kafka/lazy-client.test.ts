/**
 * Importing Eddy does not load the Kafka client (`@platformatic/kafka`, ~0.6 s to import): a job
 * module, each task thread loading it and the CLI on the embedded log start without it, and
 * `openKafkaLog` loads it when first called. Checked in a child process whose module resolutions
 * are watched by a loader hook.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from '../../helpers/tmp.js';

const INDEX = fileURLToPath(new URL('../../../src/index.ts', import.meta.url));

test('importing eddy leaves the Kafka client unloaded until openKafkaLog is called', (t) => {
  const dir = tempDir(t);
  const hook = join(dir, 'hook.mjs');
  writeFileSync(
    hook,
    `export async function resolve(specifier, context, next) {
  if (specifier === '@platformatic/kafka') process.stdout.write('kafka client resolved\\n');
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
const eddy = await import(${JSON.stringify(pathToFileURL(INDEX).href)});
const log = await eddy.openEmbeddedLog({ dir: ${JSON.stringify(join(dir, 'log'))} });
await log.ensureTopic('t', { partitions: 1 });
await log.close();
process.stdout.write('eddy imported, embedded log used\\n');
try {
  await eddy.openKafkaLog({ brokers: ['127.0.0.1:9'], connectTimeoutMs: 500, retries: 0 });
  process.stdout.write('connected?\\n');
} catch (err) {
  process.stdout.write('openKafkaLog: ' + err.name + '\\n');
}
`;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', register, '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const used = lines.indexOf('eddy imported, embedded log used');
  assert.ok(used >= 0, r.stdout + r.stderr);
  // nothing resolved the client before openKafkaLog; then it did, and the connection failed
  assert.equal(lines.slice(0, used).filter((l) => l === 'kafka client resolved').length, 0, r.stdout);
  assert.ok(lines.slice(used).includes('kafka client resolved'), r.stdout);
  assert.match(lines.at(-1) ?? '', /^openKafkaLog: \w+Error$/, r.stdout + r.stderr);
});
