/**
 * The `eddy` command line: parses the command word and hands the rest to that command's module.
 * Returns the process exit code; never calls process.exit itself, so tests can call it in-process.
 */
import { readFileSync } from 'node:fs';
import { EddyError } from '../util/errors.js';

export interface CommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

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

const defaultIO: CommandIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

export async function main(argv: string[], io: CommandIO = defaultIO): Promise<number> {
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
  try {
    const run = await command.load();
    return await run(rest, io);
  } catch (err) {
    if (err instanceof EddyError) {
      io.err(`eddy ${word}: ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  }
}
