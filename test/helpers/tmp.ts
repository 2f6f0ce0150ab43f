/** Temporary directories for tests, removed when the test (or suite) that made them ends. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface HasAfter {
  after(fn: () => void | Promise<void>): void;
}

/** Makes a fresh directory and registers its removal with `t.after` (a TestContext or suite). */
export function tempDir(t: HasAfter, prefix = 'eddy-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh directory that the caller removes (for use outside a test context). */
export function makeTempDir(prefix = 'eddy-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
