/**
 * `loadJob` on job files as users write them: every extension, in an ESM package and in a
 * CommonJS one (`npm init -y`), with a syntax error (the message names file:line:column) and
 * without a job export. The files import Eddy from the sources by absolute path; the installed
 * package (`import … from 'eddy'`) is tested by test/package/install.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadJob, moduleFormat } from '../../src/cli/load-job.js';
import { tempDir } from '../helpers/tmp.js';

const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

const ESM_JOB = (name: string, ts: boolean) => `import { defineJob } from ${JSON.stringify(INDEX)};
const inputs${ts ? ': string[]' : ''} = ['in'];
export default defineJob({ name: ${JSON.stringify(name)}, inputs, task: () => ({ process() {} }) });
`;
const CJS_JOB = (name: string) => `const { defineJob } = require(${JSON.stringify(INDEX)});
module.exports = defineJob({ name: ${JSON.stringify(name)}, inputs: ['in'], task: () => ({ process() {} }) });
`;

/** A project folder: `package.json` with or without `"type": "module"`. */
function project(root: string, name: string, type: 'module' | 'commonjs'): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const pkg: Record<string, unknown> = { name, version: '1.0.0', main: 'index.js' };
  if (type === 'module') pkg.type = 'module';
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  return dir;
}

async function rejectsWith(file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadJob(file), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'EDDY_JOB');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('loadJob', () => {
  for (const type of ['module', 'commonjs'] as const) {
    test(`loads .ts, .mts, .js and .mjs job files in a ${type} package`, async (t) => {
      const dir = project(tempDir(t), `p-${type}`, type);
      // distinct names: run from the sources, tsx maps an import of x.js to a sibling x.ts
      const files: Record<string, string> = {
        'job-ts.ts': ESM_JOB('job-ts', true),
        'job-mts.mts': ESM_JOB('job-mts', true),
        'job-mjs.mjs': ESM_JOB('job-mjs', false),
        'job-cts.cts': CJS_JOB('job-cts'),
        'job-cjs.cjs': CJS_JOB('job-cjs'),
        // a .js file written in the package's own format
        'job-js.js': type === 'module' ? ESM_JOB('job-js', false) : CJS_JOB('job-js'),
        // ESM syntax in a .js file of a CommonJS package, as people write it too
        'job-esm-js.js': ESM_JOB('job-esm-js', false),
      };
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
      for (const name of Object.keys(files)) {
        const job = await loadJob(join(dir, name));
        assert.equal(job.name, name.slice(0, name.lastIndexOf('.')), name);
      }
    });

    test(`a syntax error names the file, line and column (${type} package)`, async (t) => {
      const dir = project(tempDir(t), `s-${type}`, type);
      const bad = 'import { defineJob } from "eddy";\n\nconst x: number = ;\n';
      for (const ext of ['.ts', '.mts', '.cts']) {
        writeFileSync(join(dir, `bad${ext}`), bad);
        await rejectsWith(
          join(dir, `bad${ext}`),
          new RegExp(`syntax error at ${join(dir, `bad${ext}`)}:3:19`),
        );
      }
      const badJs = 'export const a = 1;\n\nconst x = ;\n';
      for (const ext of ['.mjs', '.js']) {
        writeFileSync(join(dir, `bad-js${ext}`), badJs);
        await rejectsWith(
          join(dir, `bad-js${ext}`),
          new RegExp(`syntax error at ${join(dir, `bad-js${ext}`)}:3:11`),
        );
      }
    });

    test(`a module without a job export is its own error (${type} package)`, async (t) => {
      const dir = project(tempDir(t), `n-${type}`, type);
      writeFileSync(join(dir, 'none.ts'), 'export const helper = 1;\nexport function other() {}\n');
      await rejectsWith(
        join(dir, 'none.ts'),
        /has no job export \(it exports helper, other\).*export default defineJob/,
      );
      writeFileSync(join(dir, 'empty.mjs'), '// nothing here\n');
      await rejectsWith(join(dir, 'empty.mjs'), /has no job export \(it exports nothing\)/);
      writeFileSync(join(dir, 'wrong.ts'), 'export default { name: "not made by defineJob" };\n');
      await rejectsWith(join(dir, 'wrong.ts'), /has no job export/);
    });
  }

  test('a syntax error in an imported file names that file', async (t) => {
    const dir = project(tempDir(t), 'dep', 'commonjs');
    writeFileSync(join(dir, 'helper.mts'), 'export const a = 1;\nexport const b = );\n');
    writeFileSync(
      join(dir, 'job.mts'),
      `import { a } from './helper.mts';\nexport const used = a;\n${ESM_JOB('x', true)}`,
    );
    await rejectsWith(join(dir, 'job.mts'), new RegExp(`syntax error at ${join(dir, 'helper.mts')}:2:18`));
  });

  test('a missing file is named', async (t) => {
    await rejectsWith(join(tempDir(t), 'nope.ts'), /nope\.ts does not exist/);
  });

  test('moduleFormat follows the extension, then the nearest package.json', (t) => {
    const root = tempDir(t);
    const esm = project(root, 'esm', 'module');
    const cjs = project(root, 'cjs', 'commonjs');
    mkdirSync(join(esm, 'src'));
    assert.equal(moduleFormat(join(esm, 'src', 'job.ts')), 'module');
    assert.equal(moduleFormat(join(esm, 'job.cts')), 'commonjs');
    assert.equal(moduleFormat(join(cjs, 'job.ts')), 'commonjs');
    assert.equal(moduleFormat(join(cjs, 'job.mjs')), 'module');
  });
});
