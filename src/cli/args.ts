/**
 * Option parsing shared by the `eddy` commands, over `node:util` `parseArgs` (strict).
 *
 * Every problem is an `InvalidArgumentError` whose message names the flag and points at the
 * command's `--help`: an unknown flag, a flag without its value, a value that is not a number, a
 * missing or extra positional argument. `--help`/`-h` is accepted by every command.
 *
 * `--data-dir DIR` is common to the log commands: the flag wins, then the `EDDY_DATA_DIR`
 * environment variable, then `./eddy-data`.
 *
 * A negative number is taken as the value of the string option before it (`--retention-ms -1`,
 * as the help documents it); `parseArgs` alone would read `-1` as an unknown short option.
 */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../util/errors.js';

/** One option: a string-valued flag or a boolean switch, with an optional one-letter alias. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** What `parseCommandArgs` returns: flag values by name, and the positional arguments in order. */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** True when `--help` or `-h` was given; the caller prints its help and exits 0. */
  help: boolean;
}

/** The default data directory when neither `--data-dir` nor `EDDY_DATA_DIR` is set. */
export const DEFAULT_DATA_DIR = './eddy-data';

/** The `--data-dir` option, for commands that open the log. */
export const DATA_DIR_OPTION: OptionSpecs = { 'data-dir': { type: 'string' } };

/** One option line of a help: `  FLAG` padded so that `text` starts at `column` (counted from 0). */
export function optionLine(flag: string, text: string, column: number): string {
  return `  ${flag}`.padEnd(column - 1).concat(' ', text);
}

/** The help line of `--data-dir`, with its text at `column` of the command's help. */
export function dataDirHelp(column: number): string {
  return optionLine(
    '--data-dir DIR',
    `the embedded log's directory (default: $EDDY_DATA_DIR, else ${DEFAULT_DATA_DIR})`,
    column,
  );
}

/** Help text lines for `--data-dir`, shared by every log command. */
export const DATA_DIR_HELP = dataDirHelp(24);

const SPECS_SEEN = new Map<string, OptionSpecs>();

/**
 * The options `eddy <command>` parsed its arguments with, once it ran (`--help` included): the
 * help test checks that each command's help lists every one of them.
 */
export function optionsParsedBy(command: string): OptionSpecs | undefined {
  return SPECS_SEEN.get(command);
}

/**
 * Parses `args` of `eddy <command>` against `specs`. Unknown flags and malformed values reject with
 * an `InvalidArgumentError` naming the flag.
 */
export function parseCommandArgs(command: string, args: readonly string[], specs: OptionSpecs): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(specs)) options[name] = { ...spec };
  SPECS_SEEN.set(command, specs);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(args, options),
      options,
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new InvalidArgumentError(describeParseError(command, err, specs), { cause: err });
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  return { values, positionals: parsed.positionals, help: values.help === true };
}

const NEGATIVE_NUMBER = /^-\d+(\.\d+)?$/;

/**
 * `--name -1` as `--name=-1` (and `-n -1` as `-n-1`) when option `name` takes a value and the
 * next argument is a negative number; everything after `--` is left alone.
 */
function joinNegativeValues(args: readonly string[], options: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (next !== undefined && NEGATIVE_NUMBER.test(next)) {
      if (arg.startsWith('--') && !arg.includes('=') && options[arg.slice(2)]?.type === 'string') {
        out.push(`${arg}=${next}`);
        i++;
        continue;
      }
      const short = /^-([A-Za-z])$/.exec(arg)?.[1];
      if (
        short !== undefined &&
        Object.values(options).some((o) => o.short === short && o.type === 'string')
      ) {
        out.push(`${arg}${next}`);
        i++;
        continue;
      }
    }
    out.push(arg);
  }
  return out;
}

function describeParseError(command: string, err: unknown, specs: OptionSpecs): string {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  const flag = /'(-[^' ]+)/.exec(message)?.[1];
  const hint = `see "eddy ${command} --help"`;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag !== undefined) {
    const known = Object.keys(specs)
      .map((n) => `--${n}`)
      .join(', ');
    return `unknown option ${flag} for "eddy ${command}"; known options: ${known || '(none)'}, --help`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag !== undefined) {
    return /argument missing/.test(message)
      ? `option ${flag} needs a value; ${hint}`
      : `option ${flag} does not take a value; ${hint}`;
  }
  return `${message}; ${hint}`;
}

/** The data directory: `--data-dir`, else `$EDDY_DATA_DIR`, else `./eddy-data`. */
export function dataDirOf(values: ParsedArgs['values'], env: NodeJS.ProcessEnv = process.env): string {
  const flag = values['data-dir'];
  if (typeof flag === 'string') {
    if (flag === '') throw new InvalidArgumentError('option --data-dir needs a non-empty directory');
    return flag;
  }
  const fromEnv = env.EDDY_DATA_DIR;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_DATA_DIR;
}

/**
 * The integer value of flag `name`, or `fallback` when absent. Rejects anything but a plain decimal
 * integer within [`min`, `max`] (so `--partitions 3x` or `--max -1` are errors, not `3` or `-1`).
 */
export function intOption(
  values: ParsedArgs['values'],
  name: string,
  fallback: number | undefined,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const n = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in ${min}..${max}`;
    throw new InvalidArgumentError(`option --${name} must be ${range}, got "${raw}"`);
  }
  return n;
}

/** The value of string flag `name` if it is one of `choices`, else `fallback` when absent. */
export function choiceOption<T extends string>(
  values: ParsedArgs['values'],
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(String(raw))) {
    throw new InvalidArgumentError(`option --${name} must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

/**
 * Checks the positional arguments: exactly `names.length` of them, each named in the message when
 * missing (`eddy topics create` without a name says "missing NAME").
 */
export function expectPositionals(
  command: string,
  positionals: readonly string[],
  names: readonly string[],
): string[] {
  if (positionals.length < names.length) {
    throw new InvalidArgumentError(
      `missing ${names.slice(positionals.length).join(' ')} for "eddy ${command}"; see "eddy ${command} --help"`,
    );
  }
  if (positionals.length > names.length) {
    throw new InvalidArgumentError(
      `unexpected argument "${positionals[names.length]}" for "eddy ${command}"; see "eddy ${command} --help"`,
    );
  }
  return [...positionals];
}
