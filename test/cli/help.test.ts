/**
 * The help of every command: it lists every option its parser accepts, every option line's
 * description starts at one column, and the top-level help lists every command and subcommand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { optionsParsedBy } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';

async function eddy(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** The commands of the top-level help, with their summary lines. */
async function commands(): Promise<Map<string, string>> {
  const top = await eddy('--help');
  assert.equal(top.code, 0);
  const section = top.out.split('Commands:\n')[1].split('\n\n')[0];
  return new Map(section.split('\n').map((l) => [l.trim().split(/\s+/)[0], l] as [string, string]));
}

/** Option lines: "  -h, --help   text" or "  --name VALUE   text"; the column where the text starts. */
function optionColumns(help: string): { line: string; column: number }[] {
  const out: { line: string; column: number }[] = [];
  for (const line of help.split('\n')) {
    const m = /^( +(?:-[A-Za-z], )?--[a-z][\w-]*(?: [^ ]+)?) {2,}(?=\S)/.exec(line);
    if (m !== null) out.push({ line, column: m[0].length });
  }
  return out;
}

test('every command help lists every option its parser accepts, aligned', async () => {
  for (const command of (await commands()).keys()) {
    if (command === 'bench') continue; // passes its options on to bench/<name>.ts; checked below
    const r = await eddy(command, '--help');
    assert.equal(r.code, 0, `eddy ${command} --help: ${r.err}`);
    const specs = optionsParsedBy(command);
    assert.ok(specs, `eddy ${command} parses its options with parseCommandArgs`);
    for (const [name, spec] of Object.entries(specs)) {
      assert.match(
        r.out,
        new RegExp(`^ +(-[A-Za-z], )?--${name}\\b`, 'm'),
        `eddy ${command} --help lists --${name}`,
      );
      if (spec.short !== undefined) {
        assert.match(
          r.out,
          new RegExp(`-${spec.short}, --${name}\\b`),
          `eddy ${command} --help shows -${spec.short}`,
        );
      }
    }
    assert.match(r.out, /-h, --help/, command);
    const columns = optionColumns(r.out);
    const first = columns[0];
    for (const c of columns) {
      assert.equal(
        c.column,
        first.column,
        `eddy ${command} --help: "${c.line}" is not aligned with "${first.line}"`,
      );
    }
  }
});

test('the top-level help lists every command and each subcommand of a command', async () => {
  const listed = await commands();
  for (const name of ['demo', 'run', 'store', 'topics', 'produce', 'consume', 'bench']) {
    assert.ok(listed.has(name), `eddy --help lists ${name}`);
  }
  for (const [command, summary] of listed) {
    const r = await eddy(command, '--help');
    // "eddy topics create NAME …": the words after the command on its usage lines
    const subs = new Set(
      [...r.out.matchAll(new RegExp(`^ +eddy ${command} ([a-z]+)\\b`, 'gm'))].map((m) => m[1]),
    );
    if (command === 'bench') subs.clear();
    for (const sub of subs)
      assert.match(summary, new RegExp(`\\b${sub}\\b`), `eddy --help names "${command} ${sub}"`);
  }
});
