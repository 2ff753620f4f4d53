import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { completionScript, completionTree, SHELLS } from '../../src/cli/completion.js';
import { requestedFormat } from '../../src/cli/output.js';
import { buildProgram, commandPath, walkCommands } from '../../src/cli/program.js';

const program = await buildProgram();
const commands = [program, ...walkCommands(program)];

function helpOf(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

describe('every command', () => {
  it('is walked: the tree has the nested commands', () => {
    expect(commands.map(commandPath)).toEqual(expect.arrayContaining(['', 'render', 'local up', 'agent run', 'peripheral check', 'completion']));
  });

  it.each(commands.map((c) => [commandPath(c) || 'edgebox', c] as const))('%s: --help has an Example section', (_path, cmd) => {
    const help = helpOf(cmd);
    expect(help).toMatch(/\nExample:\n {2}\$ edgebox/);
  });

  it.each(commands.map((c) => [commandPath(c) || 'edgebox', c] as const))('%s: --help names each default once', (_path, cmd) => {
    for (const line of helpOf(cmd).split('\n')) expect((line.match(/\(default: /g) ?? []).length, line).toBeLessThanOrEqual(1);
  });

  it.each(commands.filter((c) => c.options.some((o) => o.long === '--kubeconfig')).map((c) => [commandPath(c), c] as const))(
    '%s: takes --context beside --kubeconfig',
    (_path, cmd) => {
      expect(cmd.options.map((o) => o.long)).toContain('--context');
    },
  );
});

describe('edgebox completion', () => {
  const tree = completionTree(program);

  /** Runs the bash completion function on the words typed so far, the last one being completed. */
  function complete(...words: string[]): string[] {
    const script = completionScript('bash', tree);
    const line = ['edgebox', ...words].map((w) => `'${w}'`).join(' ');
    const run = `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length}; _edgebox; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', run], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean).sort();
  }

  it.each([
    [['ren'], ['render']],
    [
      ['local', 'k'],
      ['kill', 'kubeconfig'],
    ],
    [['local', 'up', 'box.yaml', '--ti'], ['--timings']],
    [['render', 'box.yaml', '--git'], ['--gitops']],
    [['status', '--con'], ['--context']],
    [
      ['peripheral', ''],
      ['--help', 'check', 'history', 'move'],
    ],
  ])('bash completes %j to %j', (words, expected) => {
    expect(complete(...words)).toEqual(expected);
  });

  it.each(SHELLS)('%s script names every top-level command', (shell) => {
    const script = completionScript(shell, tree);
    for (const c of program.commands) expect(script).toContain(c.name());
  });

  it('fish offers subcommands only where they belong', () => {
    const script = completionScript('fish', tree);
    expect(script).toContain("complete -c edgebox -n '__fish_seen_subcommand_from local; and not __fish_seen_subcommand_from");
    expect(script).toMatch(/-n '__fish_use_subcommand' -a render -d /);
  });
});

describe('the output format of a failure', () => {
  it.each([
    [['plan', 'x.yaml', '-o', 'json'], 'json'],
    [['plan', 'x.yaml', '--output=json'], 'json'],
    [['plan', 'x.yaml', '-ojson'], 'json'],
    [['plan', 'x.yaml', '--output', 'yaml'], 'yaml'],
    [['plan', 'x.yaml', '-o', 'xml'], 'text'],
    [['plan', 'x.yaml'], 'text'],
  ] as const)('%j asks for %s', (argv, format) => {
    expect(requestedFormat(argv)).toBe(format);
  });

  it('a parent running edgebox for data decides how its child prints errors', () => {
    expect(requestedFormat(['agent', 'config', '-o', 'json'], { EDGEBOX_ERROR_FORMAT: 'text' })).toBe('text');
    expect(requestedFormat(['agent', 'config'], { EDGEBOX_ERROR_FORMAT: 'json' })).toBe('json');
  });
});
