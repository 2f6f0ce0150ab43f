/**
 * `eddy/testing`: what users import to unit-test their jobs in memory — the `TestDriver` and its
 * types. Kept apart from the main entry so production code does not pull in test helpers.
 */
export {
  type TestChangelogRecord,
  TestDriver,
  type TestDriverOptions,
  type TestInput,
  type TestLogLine,
  type TestMetrics,
  type TestOutput,
  type TestRecord,
  type TestTaskMetrics,
} from './runtime/test-driver/index.js';
