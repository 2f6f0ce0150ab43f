/**
 * `eddy consume TOPIC`: prints the records of a topic, like Kafka's console consumer.
 *
 * Without `--from-beginning` it starts at the end offsets of the moment it starts, so without
 * `--follow` it prints nothing; `--from-beginning` starts at the earliest offsets. `--follow` waits
 * for new records (through `Log.waitForData`, no polling loop) until SIGINT or `--max` records;
 * partitions are read round-robin, each up to its end, in offset order within a partition.
 *
 * It reads the log as a read-only follower (open-log.ts) and takes no lock, so it works next to a
 * running job, and a job can start while it follows; `--follow` wakes on the writer's changes to
 * the partition's files.
 */
import type { Log, LogRecord } from '../log/types.js';
import { InvalidArgumentError, isEddyError } from '../util/errors.js';
import { choiceOption, expectPositionals, intOption, parseCommandArgs } from './args.js';
import type { CommandIO } from './main.js';
import { LOG_TARGET_OPTIONS, logTargetHelp, logTargetOf, withLog } from './open-log.js';
import { formatJson, formatTsv } from './record-format.js';

const HELP = `Usage: eddy consume TOPIC [--partition P [--offset N]] [--from-beginning] [--follow] [--max N]
                          [--format tsv|json]

Prints the records of TOPIC. Like Kafka's console consumer it starts at the END of each partition
unless --from-beginning (or --offset) is given, so without --follow or --from-beginning it prints
nothing. A closed output (eddy consume … | head -2) ends it quietly, with exit code 141.

Output formats (--format):
  tsv   (default) partition<TAB>offset<TAB>key<TAB>value; a null key is empty, a tombstone prints
        as <tombstone>, bytes that are not UTF-8 text (or hold a TAB/newline) as base64:...
  json  {"partition":0,"offset":5,"timestamp":…,"key":"k","keyEncoding":"utf8",
        "value":"…","valueEncoding":"utf8"|"base64","headers":{…},"headerEncodings":{…}}

Options:
  --partition P       only partition P (default: every partition)
  --offset N          start at offset N of partition P (needs --partition)
  --from-beginning    start at the earliest offset instead of the end
  -f, --follow        keep waiting for new records until Ctrl-C (SIGINT)
  --max N             stop after N records
  --format FORMAT     tsv (default) or json
${logTargetHelp(22)}
  -h, --help          show this help
`;

const OPTIONS = {
  ...LOG_TARGET_OPTIONS,
  partition: { type: 'string' },
  offset: { type: 'string' },
  'from-beginning': { type: 'boolean' },
  follow: { type: 'boolean', short: 'f' },
  max: { type: 'string' },
  format: { type: 'string' },
} as const;

/** How long one `waitForData` round lasts before the consumer re-arms it. */
const WAIT_MS = 60_000;

/** Runs `eddy consume …`; SIGINT (Ctrl-C) ends `--follow` cleanly with exit code 0. */
export async function consumeCommand(args: string[], io: CommandIO): Promise<number> {
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  try {
    return await consume(args, io, stop.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/**
 * `eddy consume` that stops when `signal` aborts (tests abort it instead of sending SIGINT). With
 * `log` it reads that open log (not closing it) instead of opening the data directory's: the
 * embedded log locks its directory, so a test that appends while following shares the instance.
 */
export async function consume(
  args: string[],
  io: CommandIO,
  signal: AbortSignal,
  log?: Log,
): Promise<number> {
  const { values, positionals, help } = parseCommandArgs('consume', args, OPTIONS);
  if (help) {
    io.out(HELP);
    return 0;
  }
  const [topic] = expectPositionals('consume', positionals, ['TOPIC']);
  const format = choiceOption(values, 'format', ['tsv', 'json'], 'tsv');
  const only = intOption(values, 'partition', undefined, 0);
  const startOffset = intOption(values, 'offset', undefined, 0);
  const max = intOption(values, 'max', Number.POSITIVE_INFINITY, 0) as number;
  const follow = values.follow === true;
  const fromBeginning = values['from-beginning'] === true;
  const print = format === 'json' ? formatJson : formatTsv;
  if (startOffset !== undefined && only === undefined) {
    throw new InvalidArgumentError('option --offset needs --partition P: offsets are per partition');
  }
  if (startOffset !== undefined && fromBeginning) {
    throw new InvalidArgumentError('options --offset and --from-beginning exclude each other');
  }
  // Ctrl-C, or the reader of the output went away (`| head`)
  const stop = io.closed === undefined ? signal : AbortSignal.any([signal, io.closed]);

  const run = async (log: Log): Promise<number> => {
    const info = await log.describeTopic(topic);
    const partitions = only === undefined ? info.partitions.map((p) => p.partition) : [only];
    // Validates `only` through the log (UnknownPartitionError names the valid range).
    const positions = new Map<number, number>();
    for (const p of partitions) {
      const earliest = await log.earliestOffset(topic, p);
      const end = await log.endOffset(topic, p);
      if (startOffset !== undefined && (startOffset < earliest || startOffset > end)) {
        throw new InvalidArgumentError(
          `--offset ${startOffset} is out of range for topic "${topic}" partition ${p}: its offsets are ${earliest}..${end} (${end} is the end, where the next record goes)`,
        );
      }
      positions.set(p, startOffset ?? (fromBeginning ? earliest : end));
    }
    let printed = 0;
    while (printed < max && !stop.aborted) {
      let any = false;
      for (const p of partitions) {
        if (printed >= max) break;
        const records = await readFrom(log, topic, p, positions, Math.min(1000, max - printed));
        for (const r of records) io.out(print(p, r));
        if (stop.aborted) break;
        if (records.length > 0) {
          any = true;
          printed += records.length;
          positions.set(p, records[records.length - 1].offset + 1);
        }
      }
      if (any) continue;
      if (!follow) break;
      await waitForAny(log, topic, positions, stop);
    }
    return 0;
  };
  return log !== undefined ? run(log) : withLog(logTargetOf(values), { follow: 'always', io }, run);
}

/**
 * Reads from the partition's position. When the position fell below the earliest offset (retention
 * removed records meanwhile) it moves up to the earliest offset instead of failing.
 */
async function readFrom(
  log: Log,
  topic: string,
  partition: number,
  positions: Map<number, number>,
  maxRecords: number,
): Promise<LogRecord[]> {
  const at = positions.get(partition) as number;
  try {
    return await log.read(topic, partition, at, { maxRecords });
  } catch (err) {
    if (!isEddyError(err, 'EDDY_OFFSET_OUT_OF_RANGE')) throw err;
    const earliest = await log.earliestOffset(topic, partition);
    if (at >= earliest) throw err;
    positions.set(partition, earliest);
    return log.read(topic, partition, earliest, { maxRecords });
  }
}

/** Waits until any partition has data past its position, or `signal` aborts. */
async function waitForAny(
  log: Log,
  topic: string,
  positions: Map<number, number>,
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) return;
  const round = new AbortController();
  const onAbort = (): void => round.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const waits = [...positions].map(([p, at]) => log.waitForData(topic, p, at, WAIT_MS, round.signal));
    await Promise.race(waits);
    round.abort();
    await Promise.allSettled(waits);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
