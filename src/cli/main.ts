/**
 * The `eddy` command line: parses the command word and hands the rest to that command's module.
 * Returns the process exit code; never calls process.exit itself, so tests can call it in-process.
 *
 * A closed stdout (`eddy consume … | head -2`) ends a command quietly, as it ends a Unix tool: the
 * first write that fails with EPIPE aborts `io.closed`, later output is dropped, the command
 * stops producing output and closes what it opened, and the exit code is 141 (128 + SIGPIPE, what
 * a shell reports for a tool that SIGPIPE ended).
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { EddyError } from '../util/errors.js';
import { unknownEnvWarnings } from './env.js';

export interface CommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Aborts when the reader of `out` has gone away (EPIPE); long-running output should stop. */
  closed?: AbortSignal;
}

/** The exit code after stdout's reader went away: 128 + SIGPIPE (13), as shells report it. */
export const EXIT_PIPE_CLOSED = 141;

type Command = (args: string[], io: CommandIO) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {};

/** Registers a command; the command modules call this through `commands.ts`. */
export function registerCommand(name: string, summary: string, load: () => Promise<Command>): void {
  COMMANDS[name] = { summary, load };
}

function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next location: sources run from src/cli, the build from dist/src/cli
    }
  }
  return 'unknown';
}

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return [
    'eddy — stateful stream processing for Node.js',
    '',
    'Usage: eddy <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  --help     show help (also: eddy <command> --help)',
    '  --version  print the version',
    '',
  ].join('\n');
}

/**
 * The process's stdout and stderr as a `CommandIO`. An EPIPE on stdout aborts `closed` (and drops
 * later output) instead of ending in an unhandled 'error' event's stack trace; one on stderr is
 * ignored.
 */
export function processIO(stdout: Writable = process.stdout, stderr: Writable = process.stderr): CommandIO {
  const closed = new AbortController();
  let stderrOpen = true;
  const isEpipe = (err: unknown): boolean => (err as NodeJS.ErrnoException | null)?.code === 'EPIPE';
  // a write to a closed pipe fails at once (the stream is then `errored`); its 'error' event comes later
  stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (!isEpipe(err)) throw err;
    closed.abort();
  });
  stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    stderrOpen = false;
  });
  return {
    out: (t) => {
      if (closed.signal.aborted) return;
      stdout.write(t);
      if (isEpipe(stdout.errored)) closed.abort();
    },
    err: (t) => {
      if (stderrOpen) stderr.write(t);
    },
    closed: closed.signal,
  };
}

let defaultIO: CommandIO | undefined;

export async function main(argv: string[], io: CommandIO = (defaultIO ??= processIO())): Promise<number> {
  await import('./commands.js');
  const [word, ...rest] = argv;
  if (word === undefined || word === '--help' || word === '-h' || word === 'help') {
    io.out(usage());
    return 0;
  }
  if (word === '--version' || word === '-v') {
    io.out(`${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[word];
  if (!command) {
    io.err(`eddy: unknown command "${word}"\n\n${usage()}`);
    return 2;
  }
  for (const warning of unknownEnvWarnings()) io.err(`${warning}\n`);
  try {
    const run = await command.load();
    const code = await run(rest, io);
    return io.closed?.aborted ? EXIT_PIPE_CLOSED : code;
  } catch (err) {
    if (io.closed?.aborted) return EXIT_PIPE_CLOSED;
    if (err instanceof EddyError) {
      io.err(`eddy ${word}: ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  }
}
