/**
 * Tests that need a program from the system (Chromium, Prometheus): where it is missing, such a test
 * is skipped with the package to install, so `npm test` on a fresh machine says what it did not
 * run. Under CI (`CI` set) a missing program is an error instead: `.ci/run` installs them, and a
 * CI that skipped them would pass without having run those tests.
 */
import { existsSync } from 'node:fs';

/** The skip reason when `path` is missing (false when it is there); throws when `CI` is set. */
export function missingTool(path: string, aptPackage: string): string | false {
  if (existsSync(path)) return false;
  if (process.env.CI) throw new Error(`${path} is missing under CI: .ci/run must install ${aptPackage}`);
  return `no ${path} (apt-get install ${aptPackage}; .ci/run does)`;
}
