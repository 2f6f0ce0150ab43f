/**
 * `eddy topics create|list|describe|delete|compact`: manage the topics of the embedded log from the shell.
 *
 * `create` takes the topic settings of `TopicConfig` as flags (`--partitions` is required); the log
 * validates them and its error names the bad setting. `describe` prints the settings and, per
 * partition, the earliest and end offsets (the end offset is the offset the next record will get).
 */

import type { EmbeddedLog } from '../log/embedded/embedded-log.js';
import type { CleanupPolicy, TopicConfigInput, TopicInfo } from '../log/types.js';
import { InvalidArgumentError } from '../util/errors.js';
import { choiceOption, expectPositionals, intOption, parseCommandArgs } from './args.js';
import { withLogWriter } from './live-log.js';
import type { CommandIO } from './main.js';
import { LOG_TARGET_OPTIONS, logTargetHelp, logTargetOf, withLog } from './open-log.js';

const HELP = `Usage:
  eddy topics create NAME --partitions N [--cleanup delete|compact] [--retention-ms MS]
                          [--retention-bytes BYTES] [--segment-bytes BYTES] [--delete-retention-ms MS]
  eddy topics list [--json]
  eddy topics describe NAME [--json]
  eddy topics delete NAME
  eddy topics compact NAME

Manage the topics of the embedded log, or of Kafka with --backend kafka --brokers HOST:PORT.
"compact" compacts every partition of a compact-topic of the embedded log now (the log also does
it by itself after segment rolls and every minute; Kafka compacts on its own).

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
Options of list and describe:
  --json                    print JSON (list: an array of names; describe: name, config, partitions)
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
} as const;

const CREATE_ONLY = [
  'partitions',
  'cleanup',
  'retention-ms',
  'retention-bytes',
  'segment-bytes',
  'delete-retention-ms',
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
  if (values.json === true && sub !== 'list' && sub !== 'describe') {
    throw new InvalidArgumentError('option --json is only for "eddy topics list" and "eddy topics describe"');
  }
  const dataDir = logTargetOf(values);
  switch (sub) {
    case 'create': {
      const [name] = expectPositionals('topics create', rest, ['NAME']);
      const config = createConfig(values);
      const info = await withLogWriter(dataDir, { create: true }, (log) => log.createTopic(name, config));
      io.out(
        `created topic ${info.name} with ${info.config.partitions} partition(s), cleanup ${info.config.cleanup}\n`,
      );
      return 0;
    }
    case 'list': {
      expectPositionals('topics list', rest, []);
      const names = [...(await withLog(dataDir, { follow: true }, (log) => log.listTopics()))].sort();
      if (values.json === true) io.out(`${JSON.stringify(names)}\n`);
      else for (const name of names) io.out(`${name}\n`);
      return 0;
    }
    case 'describe': {
      const [name] = expectPositionals('topics describe', rest, ['NAME']);
      const info = await withLog(dataDir, { follow: true }, (log) => log.describeTopic(name));
      io.out(values.json === true ? `${JSON.stringify(info)}\n` : formatTopic(info));
      return 0;
    }
    case 'delete': {
      const [name] = expectPositionals('topics delete', rest, ['NAME']);
      await withLogWriter(dataDir, {}, (log) => log.deleteTopic(name));
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
      await withLog(dataDir, {}, async (log) => {
        const { compactTopic } = await import('../log/embedded/compactor.js');
        const results = await compactTopic(log as EmbeddedLog, name);
        io.out(`compacted topic ${name}\n`);
        results.forEach((r, p) => {
          const mb = (n: number): string =>
            n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
          io.out(
            `  partition ${p}: ${r.segmentsCleaned} segment(s), ${r.recordsRead} records read, ${r.recordsKept} kept, ${mb(r.bytesBefore)} -> ${mb(r.bytesAfter)}\n`,
          );
        });
      });
      return 0;
    }
    default:
      throw new InvalidArgumentError(
        `unknown subcommand "topics ${sub}"; use create, list, describe, delete or compact (see "eddy topics --help")`,
      );
  }
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
    '',
    '  partition  earliest  end',
  ];
  for (const p of info.partitions) {
    lines.push(`  ${String(p.partition).padEnd(9)}  ${String(p.earliestOffset).padEnd(8)}  ${p.endOffset}`);
  }
  return `${lines.join('\n')}\n`;
}
