// The in-memory test driver users unit-test their jobs with: re-exports only.
export { TestDriver } from './test-driver.js';
export type * from './test-driver-types.js';
