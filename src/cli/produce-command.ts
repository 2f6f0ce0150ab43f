/**
 * `eddy produce TOPIC`: appends the records of stdin (or `--file`), one a line, to a topic.
 *
 * Nothing half-written: the whole input is read and validated first (records are buffered in
 * memory, so the input must fit in memory; the raw lines are not kept twice), and only then
 * appended; a bad line is an `InvalidArgumentError` naming its line number and what is wrong, and
 * the topic is left untouched. The appends go in one transaction when the log supports them (the
 * embedded log does), in chunks of at most `CHUNK_RECORDS` records / `CHUNK_BYTES` bytes per
 * partition, so a crash midway leaves nothing either. Without transactions a failure midway can
 * leave the earlier chunks written; the message then says so.
 *
 * Routing: a line's own `partition` (JSON), else `--partition`, else the key's partition by Kafka's
 * murmur2 partitioner, else (null key) round-robin over the partitions.
 */
import { readFileSync } from 'node:fs';
import type { AppendRecord, Log } from '../log/types.js';
import { EddyError, InvalidArgumentError } from '../util/errors.js';
import { partitionForKey } from '../util/murmur2.js';
import {
  choiceOption,
  DATA_DIR_HELP,
  DATA_DIR_OPTION,
  dataDirOf,
  expectPositionals,
  intOption,
  parseCommandArgs,
} from './args.js';
import type { CommandIO } from './main.js';
import { withLog } from './open-log.js';
import { type ParsedLine, parseJsonLine, parseTsvLine } from './record-format.js';

const HELP = `Usage: eddy produce TOPIC [--partition P] [--format tsv|json] [--file PATH]

Appends one record per input line (stdin, or --file) to TOPIC and prints how many records went
to which partition. The whole input is validated before anything is written: a bad line is an
error naming its line number, and then nothing is written. Empty lines are skipped.

Input formats (--format, default tsv; there is no auto-detection):
  tsv   key<TAB>value         a line without a TAB is a value with a null key
  json  {"key":"k","value":"v","headers":{"h":"x"},"partition":0,"timestamp":1700000000000}
        "value":null writes a tombstone; non-string values are written as their JSON text;
        "keyEncoding"/"valueEncoding":"base64" mark base64 strings (the output of
        "eddy consume --format json" can be piped back in)

Routing: a line's "partition", else --partition, else the key's murmur2 partition (as Kafka's
default partitioner), else round-robin for null keys.

Options:
  --partition P       write every record (without its own "partition") to partition P
  --format FORMAT     tsv (default) or json
  --file PATH         read PATH instead of stdin
${DATA_DIR_HELP}
  -h, --help          show this help
`;

const OPTIONS = {
  ...DATA_DIR_OPTION,
  partition: { type: 'string' },
  format: { type: 'string' },
  file: { type: 'string' },
} as const;

/** Records per append call (and so per batch of the embedded log). */
export const CHUNK_RECORDS = 10_000;
/** About this many key+value bytes per append call. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

interface InputLine extends ParsedLine {
  line: number;
}

/** Runs `eddy produce …` reading stdin; returns the exit code. */
export async function produceCommand(args: string[], io: CommandIO): Promise<number> {
  return produce(args, io, process.stdin);
}

/** `eddy produce` with its input given (tests pass a stream or an array of chunks). */
export async function produce(
  args: string[],
  io: CommandIO,
  stdin: AsyncIterable<Buffer | string>,
): Promise<number> {
  const { values, positionals, help } = parseCommandArgs('produce', args, OPTIONS);
  if (help) {
    io.out(HELP);
    return 0;
  }
  const [topic] = expectPositionals('produce', positionals, ['TOPIC']);
  const format = choiceOption(values, 'format', ['tsv', 'json'], 'tsv');
  const fixedPartition = intOption(values, 'partition', undefined, 0);
  const dataDir = dataDirOf(values);
  const input: AsyncIterable<Buffer | string> | Iterable<Buffer | string> =
    typeof values.file === 'string' ? [readFileSync(values.file)] : stdin;
  const lines = await readInput(input, format);

  return withLog(dataDir, { create: false }, async (log) => {
    const { config } = await log.describeTopic(topic);
    const byPartition = route(lines, config.partitions, fixedPartition, topic);
    const results = await appendAll(log, topic, byPartition);
    const total = lines.length;
    io.out(`produced ${total} record(s) to topic ${topic}\n`);
    for (const [partition, r] of [...results].sort((a, b) => a[0] - b[0])) {
      io.out(`  partition ${partition}: ${r.count} record(s), offsets ${r.first}..${r.last}\n`);
    }
    return 0;
  });
}

/** Reads and parses every line; throws on the first bad line with its number. */
async function readInput(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  format: 'tsv' | 'json',
): Promise<InputLine[]> {
  const out: InputLine[] = [];
  let lineNo = 0;
  let carry: Buffer = Buffer.alloc(0);
  const take = (raw: Buffer): void => {
    lineNo++;
    const line = raw.length > 0 && raw[raw.length - 1] === 13 ? raw.subarray(0, raw.length - 1) : raw;
    if (line.length === 0) return;
    let parsed: ParsedLine;
    try {
      // TSV records reference `line`, a view of the chunk: copy so a later chunk cannot alias it.
      parsed = format === 'tsv' ? parseTsvLine(Buffer.from(line)) : parseJsonLine(line.toString('utf8'));
    } catch (err) {
      throw new InvalidArgumentError(`line ${lineNo}: ${(err as Error).message}; nothing was written`);
    }
    out.push({ ...parsed, line: lineNo });
  };
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let data = carry.length > 0 ? Buffer.concat([carry, buf]) : buf;
    let start = 0;
    for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
      take(data.subarray(start, nl));
      start = nl + 1;
    }
    data = data.subarray(start);
    carry = Buffer.from(data);
  }
  if (carry.length > 0) take(carry);
  return out;
}

function route(
  lines: readonly InputLine[],
  partitions: number,
  fixed: number | undefined,
  topic: string,
): Map<number, AppendRecord[]> {
  if (fixed !== undefined && fixed >= partitions) {
    throw new InvalidArgumentError(
      `--partition ${fixed} does not exist: topic "${topic}" has partitions 0..${partitions - 1}; nothing was written`,
    );
  }
  const byPartition = new Map<number, AppendRecord[]>();
  let roundRobin = 0;
  for (const { record, partition, line } of lines) {
    let p = partition ?? fixed;
    if (p === undefined) {
      p = record.key != null ? partitionForKey(record.key, partitions) : roundRobin++ % partitions;
    } else if (p >= partitions) {
      throw new InvalidArgumentError(
        `line ${line}: partition ${p} does not exist: topic "${topic}" has partitions 0..${partitions - 1}; nothing was written`,
      );
    }
    let list = byPartition.get(p);
    if (list === undefined) byPartition.set(p, (list = []));
    list.push(record);
  }
  return byPartition;
}

interface PartitionResult {
  count: number;
  first: number;
  last: number;
}

/** Appends every partition's records, in one transaction when the log has them. */
async function appendAll(
  log: Log,
  topic: string,
  byPartition: Map<number, AppendRecord[]>,
): Promise<Map<number, PartitionResult>> {
  const results = new Map<number, PartitionResult>();
  const tx = log.supports.transactions && log.beginTransaction ? await log.beginTransaction() : undefined;
  let wrote = false;
  try {
    for (const [partition, records] of byPartition) {
      for (const chunk of chunks(records)) {
        const r = tx ? await tx.append(topic, partition, chunk) : await log.append(topic, partition, chunk);
        wrote = true;
        const prev = results.get(partition);
        if (prev === undefined)
          results.set(partition, { count: chunk.length, first: r.baseOffset, last: r.nextOffset - 1 });
        else {
          prev.count += chunk.length;
          prev.last = r.nextOffset - 1;
        }
      }
    }
    if (tx) await tx.commit();
    else await log.flush();
  } catch (err) {
    if (tx) {
      await tx.abort().catch(() => undefined);
      throw err;
    }
    if (!wrote) throw err;
    const done = [...results].map(([p, r]) => `partition ${p}: ${r.count}`).join(', ');
    const message = `append failed after some records were written (${done}): ${(err as Error).message}`;
    throw err instanceof EddyError
      ? new EddyError(err.code, message, { cause: err })
      : new Error(message, { cause: err });
  }
  return results;
}

function* chunks(records: readonly AppendRecord[]): Generator<AppendRecord[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0) + 16;
    if (i + 1 - start >= CHUNK_RECORDS || bytes >= CHUNK_BYTES) {
      yield records.slice(start, i + 1);
      start = i + 1;
      bytes = 0;
    }
  }
  if (start < records.length) yield records.slice(start);
}
