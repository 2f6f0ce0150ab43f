/**
 * `eddy produce TOPIC`: appends the records of stdin (or `--file`), one a line, to a topic.
 *
 * Nothing half-written: the whole input is read and validated first (records are buffered in
 * memory, so the input must fit in memory; the raw lines are not kept twice), and only then
 * appended; a bad line is an `InvalidArgumentError` naming its line number and what is wrong, and
 * the topic is left untouched. The appends go in one transaction when the log supports them (the
 * embedded log does; `appendAll` in log/append-all.ts), so a crash midway leaves nothing either.
 * Next to a running job the records go through its control socket (live-log.ts), into the same
 * kind of transaction in the job's process.
 *
 * Routing: a line's own `partition` (JSON), else `--partition`, else the key's partition by Kafka's
 * murmur2 partitioner, else (null key) round-robin over the partitions.
 */
import { readFileSync } from 'node:fs';
import { recordBytes, recordTooLarge } from '../log/record-size.js';
import type { AppendRecord, TopicConfig } from '../log/types.js';
import { InvalidArgumentError } from '../util/errors.js';
import { partitionForKey } from '../util/murmur2.js';
import { choiceOption, expectPositionals, intOption, parseCommandArgs } from './args.js';
import { withLogWriter } from './live-log.js';
import type { CommandIO } from './main.js';
import { LOG_TARGET_OPTIONS, logTargetHelp, logTargetOf } from './open-log.js';
import { type ParsedLine, parseJsonLine, parseTsvLine } from './record-format.js';

const HELP = `Usage: eddy produce TOPIC [--partition P] [--format tsv|json] [--file PATH]

Appends one record per input line (stdin, or --file) to TOPIC and prints how many records went
to which partition. The whole input is validated before anything is written: a bad line is an
error naming its line number, and then nothing is written. Lines that are empty or hold only
spaces and tabs are skipped, in both formats (write such a value with --format json).

Input formats (--format, default tsv; there is no auto-detection):
  tsv   key<TAB>value         a line without a TAB is a value with a null key
  json  {"key":"k","value":"v","headers":{"h":"x"},"partition":0,"timestamp":1700000000000}
        in UTF-8 (a line that is not valid UTF-8 is an error); "value":null writes a tombstone; non-string values are written as their JSON text;
        "keyEncoding"/"valueEncoding":"base64" mark base64 strings (the output of
        "eddy consume --format json" can be piped back in)

Routing: a line's "partition", else --partition, else the key's murmur2 partition (as Kafka's
default partitioner), else round-robin for null keys.

Options:
  --partition P       write every record (without its own "partition") to partition P
  --format FORMAT     tsv (default) or json
  --file PATH         read PATH instead of stdin
${logTargetHelp(22)}
  -h, --help          show this help
`;

const OPTIONS = {
  ...LOG_TARGET_OPTIONS,
  partition: { type: 'string' },
  format: { type: 'string' },
  file: { type: 'string' },
} as const;

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
  const target = logTargetOf(values);
  const input: AsyncIterable<Buffer | string> | Iterable<Buffer | string> =
    typeof values.file === 'string' ? [readFileSync(values.file)] : stdin;
  const lines = await readInput(input, format);

  return withLogWriter(target, { create: false, io }, async (log) => {
    const { config } = await log.describeTopic(topic);
    const byPartition = route(lines, config, fixedPartition, topic);
    const results = await log.appendAll(topic, byPartition);
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
    if (isBlank(line)) return;
    let parsed: ParsedLine;
    try {
      // TSV records reference `line`, a view of the chunk: copy so a later chunk cannot alias it.
      parsed = format === 'tsv' ? parseTsvLine(Buffer.from(line)) : parseJsonLine(decodeUtf8(line));
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

/** True for a line of only spaces, tabs and carriage returns (or nothing): skipped in both formats. */
function isBlank(line: Buffer): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The line as text; bytes that are not UTF-8 are an error naming the byte, not U+FFFD. */
function decodeUtf8(line: Buffer): string {
  try {
    return UTF8.decode(line);
  } catch {
    const at = firstInvalidUtf8(line);
    throw new Error(
      `not valid UTF-8 (byte 0x${line[at].toString(16).padStart(2, '0')} at byte ${at + 1} of the line); JSON input must be UTF-8 text (for other bytes use base64 and "valueEncoding":"base64")`,
    );
  }
}

/** The index of the first byte of `b` that starts no valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

function route(
  lines: readonly InputLine[],
  config: Pick<TopicConfig, 'partitions' | 'maxRecordBytes'>,
  fixed: number | undefined,
  topic: string,
): Map<number, AppendRecord[]> {
  const partitions = config.partitions;
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
    const size = recordBytes(record);
    if (size > config.maxRecordBytes) {
      throw recordTooLarge(topic, p, size, config.maxRecordBytes, `line ${line}: the record`);
    }
    let list = byPartition.get(p);
    if (list === undefined) byPartition.set(p, (list = []));
    list.push(record);
  }
  return byPartition;
}
