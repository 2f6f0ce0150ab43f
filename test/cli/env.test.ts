/** Every `EDDY_*` variable read anywhere in the repository is in `KNOWN_ENV`, so none is warned about. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KNOWN_ENV } from '../../src/cli/env.js';
import { ERROR_CODES } from '../../src/util/errors.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, out);
    else if (/\.(ts|mjs|js)$/.test(name) || dir.endsWith('scripts')) out.push(path);
  }
  return out;
}

test('KNOWN_ENV lists every EDDY_* variable the sources, scripts, tests and benchmarks read', () => {
  const codes = new Set<string>(ERROR_CODES);
  const missing = new Set<string>();
  for (const dir of ['src', 'bin', 'scripts', 'test', 'test-kafka', 'test-package', 'bench', 'examples']) {
    for (const file of files(join(ROOT, dir))) {
      // these two misspell variables on purpose
      if (
        file.endsWith(join('test', 'cli', 'front-door.test.ts')) ||
        file.endsWith(join('src', 'cli', 'env.ts'))
      )
        continue;
      // reads and sets of variables: env.X, env['X'], $X / ${X} (shell), X: (an env object), X=
      const uses =
        /(?:env\.|env\[['"`]|\$\{?|\b)(EDDY_[A-Z0-9_]*[A-Z0-9])(?=\b(?:\s*:|=|['"`]?\]|\}|:-))|(?:env\.|\$)(EDDY_[A-Z0-9_]*[A-Z0-9])\b/g;
      for (const m of readFileSync(file, 'utf8').matchAll(uses)) {
        const name = m[1] ?? m[2];
        if (!codes.has(name) && !(name in KNOWN_ENV)) missing.add(`${name} (${file.slice(ROOT.length)})`);
      }
    }
  }
  assert.deepEqual([...missing], [], 'add these to KNOWN_ENV in src/cli/env.ts');
});
