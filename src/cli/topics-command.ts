/**
 * `eddy topics create|list|describe|delete|compact|truncate`: manage the topics of the embedded log
 * from the shell. `truncate` drops a partition's records at and after an offset (the way out of a
 * damaged batch, which the log's error names); it does nothing without `--yes`.
 *
 * `create` takes the topic settings of `TopicConfig` as flags (`--partitions` is required); the log
 * validates them and its error names the bad setting. `describe` prints the settings and, per
 * partition, the earliest and end offsets (the end offset is the offset the next record will get).
 */

import type { CleanupPolicy, TopicConfigInput, TopicInfo } from '../log/types.js';
import { InvalidArgumentError } from '../util/errors.js';
import { choiceOption, expectPositionals, intOption, parseCommandArgs } from './args.js';
import { withLogWriter } from './live-log.js';
import type { CommandIO } from './main.js';
import { LOG_TARGET_OPTIONS, type LogTarget, logTargetHelp, logTargetOf, withLog } from './open-log.js';

const HELP = `Usage:
  eddy topics create NAME --partitions N [--cleanup delete|compact] [--retention-ms MS]
                          [--retention-bytes BYTES] [--segment-bytes BYTES] [--delete-retention-ms MS]
                          [--max-record-bytes BYTES]
  eddy topics list [--json]
  eddy topics describe NAME [--json]
  eddy topics delete NAME
  eddy topics compact NAME
  eddy topics truncate NAME --partition P --offset O --yes

Manage the topics of the embedded log, or of Kafka with --backend kafka --brokers HOST:PORT.
"compact" compacts every partition of a compact-topic of the embedded log now (the log also does
it by itself after segment rolls and every minute; Kafka compacts on its own). "truncate" drops the
records of partition P at offsets >= O for good (to cut off a damaged batch: the error that reports
it names the command); it refuses without --yes.

Options of create:
  --partitions N            number of partitions (required, >= 1)
  --cleanup POLICY          delete (default: retention by time and size) or compact (keep the
                            latest record per key)
  --retention-ms MS         delete-topics: remove segments older than this; -1 keeps them forever
                            (default 7 days)
  --retention-bytes B       delete-topics: remove the oldest segments while a partition is larger;
                            -1: no limit (default)
  --segment-bytes B         roll a new segment file at this size (default 64 MiB)
  --delete-retention-ms MS  compact-topics: how long tombstones stay readable (default 1 day)
  --max-record-bytes B      refuse records larger than this: key, value and headers (default 1 MiB,
                            like Kafka's max.message.bytes)
Options of list and describe:
  --json                    print JSON (list: an array of names; describe: name, config, partitions)
Options of truncate:
  --partition P             the partition (required)
  --offset O                drop the records at offsets >= O (required; earliest <= O <= end)
  --yes                     do it (without it, truncate only says what it would drop)
Common options:
${logTargetHelp(28)}
  -h, --help                show this help
`;

const OPTIONS = {
  ...LOG_TARGET_OPTIONS,
  json: { type: 'boolean' },
  partitions: { type: 'string' },
  cleanup: { type: 'string' },
  'retention-ms': { type: 'string' },
  'retention-bytes': { type: 'string' },
  'segment-bytes': { type: 'string' },
  'delete-retention-ms': { type: 'string' },
  'max-record-bytes': { type: 'string' },
  partition: { type: 'string' },
  offset: { type: 'string' },
  yes: { type: 'boolean' },
} as const;

const TRUNCATE_ONLY = ['partition', 'offset', 'yes'];

const CREATE_ONLY = [
  'partitions',
  'cleanup',
  'retention-ms',
  'retention-bytes',
  'segment-bytes',
  'delete-retention-ms',
  'max-record-bytes',
];

/** Runs `eddy topics …`; returns the exit code. */
export async function topicsCommand(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals, help } = parseCommandArgs('topics', args, OPTIONS);
  if (help) {
    io.out(HELP);
    return 0;
  }
  const [sub, ...rest] = positionals;
  if (sub === undefined) {
    io.err(HELP);
    return 2;
  }
  if (sub !== 'create') {
    const misplaced = CREATE_ONLY.find((name) => values[name] !== undefined);
    if (misplaced !== undefined) {
      throw new InvalidArgumentError(`option --${misplaced} is only for "eddy topics create"`);
    }
  }
  const misplacedTruncate =
    sub === 'truncate' ? undefined : TRUNCATE_ONLY.find((n) => values[n] !== undefined);
  if (misplacedTruncate !== undefined) {
    throw new InvalidArgumentError(`option --${misplacedTruncate} is only for "eddy topics truncate"`);
  }
  if (values.json === true && sub !== 'list' && sub !== 'describe') {
    throw new InvalidArgumentError('option --json is only for "eddy topics list" and "eddy topics describe"');
  }
  const dataDir = logTargetOf(values);
  switch (sub) {
    case 'create': {
      const [name] = expectPositionals('topics create', rest, ['NAME']);
      const config = createConfig(values);
      const info = await withLogWriter(dataDir, { create: true, io }, (log) => log.createTopic(name, config));
      io.out(
        `created topic ${info.name} with ${info.config.partitions} partition(s), cleanup ${info.config.cleanup}\n`,
      );
      return 0;
    }
    case 'list': {
      expectPositionals('topics list', rest, []);
      const names = [...(await withLog(dataDir, { follow: true, io }, (log) => log.listTopics()))].sort();
      if (values.json === true) io.out(`${JSON.stringify(names)}\n`);
      else for (const name of names) io.out(`${name}\n`);
      return 0;
    }
    case 'describe': {
      const [name] = expectPositionals('topics describe', rest, ['NAME']);
      const info = await withLog(dataDir, { follow: true, io }, (log) => log.describeTopic(name));
      io.out(values.json === true ? `${JSON.stringify(info)}\n` : formatTopic(info));
      return 0;
    }
    case 'delete': {
      const [name] = expectPositionals('topics delete', rest, ['NAME']);
      await withLogWriter(dataDir, { io }, (log) => log.deleteTopic(name));
      io.out(`deleted topic ${name}\n`);
      return 0;
    }
    case 'compact': {
      const [name] = expectPositionals('topics compact', rest, ['NAME']);
      if (dataDir.backend !== 'embedded') {
        throw new InvalidArgumentError(
          '"eddy topics compact" is for the embedded log; Kafka compacts on its own',
        );
      }
      const results = await withLogWriter(dataDir, { io }, (log) => log.compactTopic(name));
      io.out(`compacted topic ${name}\n`);
      results.forEach((r, p) => {
        const mb = (n: number): string =>
          n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
        io.out(
          `  partition ${p}: ${r.segmentsCleaned} segment(s), ${r.recordsRead} records read, ${r.recordsKept} kept, ${mb(r.bytesBefore)} -> ${mb(r.bytesAfter)}${r.heldAt === null ? '' : `, records from offset ${r.heldAt} on not used (held at what its job's last checkpoint covers)`}\n`,
        );
      });
      return 0;
    }
    case 'truncate': {
      const [name] = expectPositionals('topics truncate', rest, ['NAME']);
      io.out(await truncateTopic(dataDir, name, values, io));
      return 0;
    }
    default:
      throw new InvalidArgumentError(
        `unknown subcommand "topics ${sub}"; use create, list, describe, delete, compact or truncate (see "eddy topics --help")`,
      );
  }
}

/** `topics truncate`: checks partition and offset, then (with --yes) truncates; returns the report. */
async function truncateTopic(
  dataDir: LogTarget,
  name: string,
  values: Record<string, string | boolean | undefined>,
  io: CommandIO,
): Promise<string> {
  if (values.partition === undefined || values.offset === undefined) {
    throw new InvalidArgumentError(
      `missing --${values.partition === undefined ? 'partition P' : 'offset O'} for "eddy topics truncate"`,
    );
  }
  const partition = intOption(values, 'partition', undefined, 0) as number;
  const offset = intOption(values, 'offset', undefined, 0) as number;
  if (dataDir.backend !== 'embedded') {
    throw new InvalidArgumentError(
      '"eddy topics truncate" is for the embedded log; Kafka topics are not truncated',
    );
  }
  const { what, done } = await withLogWriter(dataDir, { io }, (log) =>
    log.truncate(name, partition, offset, values.yes === true),
  );
  if (!done) {
    throw new InvalidArgumentError(
      `truncating at offset ${offset} drops ${what}; run again with --yes to do it`,
    );
  }
  return `truncated topic ${name} partition ${partition} at offset ${offset}: dropped ${what}\n`;
}

function createConfig(values: Record<string, string | boolean | undefined>): TopicConfigInput {
  if (values.partitions === undefined) {
    throw new InvalidArgumentError('missing --partitions N for "eddy topics create"');
  }
  const config: TopicConfigInput = { partitions: intOption(values, 'partitions', undefined, 1) as number };
  if (values.cleanup !== undefined)
    config.cleanup = choiceOption<CleanupPolicy>(values, 'cleanup', ['delete', 'compact'], 'delete');
  const retentionMs = intOption(values, 'retention-ms', undefined, -1);
  if (retentionMs !== undefined) config.retentionMs = retentionMs;
  const retentionBytes = intOption(values, 'retention-bytes', undefined, -1);
  if (retentionBytes !== undefined) config.retentionBytes = retentionBytes;
  const segmentBytes = intOption(values, 'segment-bytes', undefined, 1);
  if (segmentBytes !== undefined) config.segmentBytes = segmentBytes;
  const deleteRetentionMs = intOption(values, 'delete-retention-ms', undefined, 0);
  if (deleteRetentionMs !== undefined) config.deleteRetentionMs = deleteRetentionMs;
  const maxRecordBytes = intOption(values, 'max-record-bytes', undefined, 1);
  if (maxRecordBytes !== undefined) config.maxRecordBytes = maxRecordBytes;
  return config;
}

/** The text of `topics describe`: settings, then one row per partition. */
export function formatTopic(info: TopicInfo): string {
  const c = info.config;
  const lines = [
    `topic ${info.name}`,
    `  partitions           ${c.partitions}`,
    `  cleanup              ${c.cleanup}`,
    `  retention-ms         ${c.retentionMs}`,
    `  retention-bytes      ${c.retentionBytes}`,
    `  segment-bytes        ${c.segmentBytes}`,
    `  delete-retention-ms  ${c.deleteRetentionMs}`,
    `  max-record-bytes     ${c.maxRecordBytes}`,
    '',
    '  partition  earliest  end',
  ];
  for (const p of info.partitions) {
    lines.push(`  ${String(p.partition).padEnd(9)}  ${String(p.earliestOffset).padEnd(8)}  ${p.endOffset}`);
  }
  return `${lines.join('\n')}\n`;
}
