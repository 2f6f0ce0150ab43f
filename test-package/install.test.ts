/**
 * The package as users get it: `npm pack` this checkout, `npm install` the tarball into an empty
 * project (`npm init -y`, a CommonJS package), and run what the README tells them to run there:
 * `npx eddy demo`, every command's `--help` (each loads its own module), and the README's
 * TypeScript job `carts.ts` through `npx eddy run`, in the CommonJS project and again after the
 * project turns into an ESM one. Uses the npm cache (`--prefer-offline`), so it runs offline once
 * `npm ci` filled it. Run with `npm run test:package` (CI runs it).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../test/helpers/tmp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/** The README's own job, cut out of the README, so the test runs what users copy. */
function readmeJob(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /```ts\n(\/\/ carts\.ts[^\n]*\n[\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README.md has the carts.ts example');
  return m[1];
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('the packed and installed package', { timeout: 300_000 }, () => {
  const temp = makeTempDir('eddy-package-');
  after(temp.remove);
  let project = '';
  // Without EDDY_FROM_SOURCE and with a clean EDDY_* environment: what a user's shell has.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('EDDY_') && !k.startsWith('npm_')),
  );

  const eddy = (args: string[], input?: string): Run => {
    const r = spawnSync(NPX, ['--no', '--', 'eddy', ...args], {
      cwd: project,
      env,
      input,
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(() => {
    const work = temp.dir;
    const packDir = join(work, 'pack');
    project = join(work, 'app');
    execFileSync('mkdir', ['-p', packDir, project]);
    // `npm pack` runs `prepare` (the build), so the tarball holds this checkout's code.
    execFileSync(NPM, ['pack', '--pack-destination', packDir, '--silent'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    execFileSync(NPM, ['init', '-y'], { cwd: project, env, stdio: 'ignore' });
    execFileSync(
      NPM,
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(packDir, tarball)],
      { cwd: project, env, stdio: ['ignore', 'ignore', 'inherit'] },
    );
  });

  test('npx eddy demo runs the shopping-cart job', () => {
    const r = eddy(['demo', '--events', '2000', '--users', '100']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /processed 2,000 events/);
    assert.match(r.stdout, /open carts in store/);
  });

  test('the top-level help and every command help run', () => {
    const top = eddy(['--help']);
    assert.equal(top.status, 0, top.stderr);
    const commands = [...top.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]);
    assert.ok(commands.includes('run') && commands.includes('demo'), top.stdout);
    for (const command of commands) {
      if (command === 'bench') continue; // lives in the source checkout; checked below
      const r = eddy([command, '--help']);
      assert.equal(r.status, 0, `eddy ${command} --help: ${r.stderr}`);
      assert.match(r.stdout, /Usage/, command);
    }
    const bench = eddy(['bench', 'runtime']);
    assert.equal(bench.status, 1);
    assert.match(bench.stderr, /run eddy bench from a source checkout/);
  });

  test("the README's carts.ts runs in a CommonJS project and in an ESM project", () => {
    writeFileSync(join(project, 'carts.ts'), readmeJob());
    assert.equal(eddy(['topics', 'create', 'cart-events', '--partitions', '2']).status, 0);
    const produced = eddy(
      ['produce', 'cart-events'],
      'alice\t{"item":"book","qty":1}\nbob\t{"item":"pen","qty":2}\nalice\t{"item":"pen","qty":3}\n',
    );
    assert.equal(produced.status, 0, produced.stderr);

    const cjs = eddy(['run', 'carts.ts', '--until-caught-up']);
    assert.equal(cjs.status, 0, cjs.stderr);
    assert.match(cjs.stderr, /stopped: processed 3 messages/);

    const pkgPath = join(project, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(pkgPath, JSON.stringify({ ...pkg, type: 'module' }, null, 2));
    assert.equal(eddy(['produce', 'cart-events'], 'carol\t{"item":"cup","qty":1}\n').status, 0);
    const esm = eddy(['run', 'carts.ts', '--until-caught-up']);
    assert.equal(esm.status, 0, esm.stderr);
    assert.match(esm.stderr, /stopped: processed 1 messages/, 'continues from the checkpoint');

    const totals = eddy(['consume', 'cart-totals', '--from-beginning', '--format', 'json']);
    assert.equal(totals.status, 0, totals.stderr);
    const lines = totals.stdout.trim().split('\n');
    assert.equal(lines.length, 4);
    const carol = lines.map((l) => JSON.parse(l)).find((r) => r.key === 'carol');
    assert.deepEqual(JSON.parse(carol.value), { items: { cup: 1 } });
  });
});
