import type { Command } from 'commander';
import { commandPath, walkCommands } from './program.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What completion knows of one command: its words below the program, subcommands, long options. */
export interface CompletionNode {
  path: string;
  description: string;
  subcommands: string[];
  options: { flag: string; description: string }[];
}

/** The command tree as completion sees it: hidden options and the help command left out. */
export function completionTree(program: Command): CompletionNode[] {
  return [program, ...walkCommands(program)].map((cmd) => ({
    path: commandPath(cmd),
    description: cmd.description(),
    subcommands: cmd.commands.map((c) => c.name()),
    options: [
      ...cmd.options.filter((o) => !o.hidden && o.long).map((o) => ({ flag: o.long!, description: o.description })),
      { flag: '--help', description: 'display help for command' },
    ],
  }));
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Bash: walks the words typed so far to the deepest known command, then offers its subcommands
 * and options; anything else (a spec file) falls back to file names (`-o default`).
 */
function bash(nodes: readonly CompletionNode[]): string {
  const known = nodes.filter((n) => n.path).map((n) => `    ${quote(n.path)}) path=${quote(n.path)} ;;`);
  const words = nodes.map((n) => `    ${quote(n.path)}) words=${quote([...n.subcommands, ...n.options.map((o) => o.flag)].join(' '))} ;;`);
  return [
    '# edgebox completion for bash: source <(edgebox completion bash)',
    '_edgebox() {',
    '  local cur="${COMP_WORDS[COMP_CWORD]}" path="" i w words=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w="${COMP_WORDS[i]}"',
    '    [[ "$w" == -* ]] && continue',
    '    case "${path:+$path }$w" in',
    ...known,
    '    esac',
    '  done',
    '  case "$path" in',
    ...words,
    '  esac',
    '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    '}',
    'complete -o default -F _edgebox edgebox',
    '',
  ].join('\n');
}

/** Zsh: its bash compatibility layer runs the bash function (the same tree, one generator less). */
function zsh(nodes: readonly CompletionNode[]): string {
  return ['# edgebox completion for zsh: source <(edgebox completion zsh)', 'autoload -U +X bashcompinit && bashcompinit', bash(nodes)].join('\n');
}

/** Fish: one `complete` line per subcommand and option, conditioned on the command typed so far. */
function fish(nodes: readonly CompletionNode[]): string {
  const lines = ['# edgebox completion for fish: edgebox completion fish | source', 'complete -c edgebox -f'];
  for (const n of nodes) {
    const words = n.path ? n.path.split(' ') : [];
    const children = n.subcommands.join(' ');
    const inHere = words.length
      ? `__fish_seen_subcommand_from ${words[words.length - 1]!}${children ? `; and not __fish_seen_subcommand_from ${children}` : ''}`
      : '__fish_use_subcommand';
    for (const sub of n.subcommands) {
      const child = nodes.find((c) => c.path === [...words, sub].join(' '));
      lines.push(`complete -c edgebox -n ${quote(inHere)} -a ${sub} -d ${quote(child?.description ?? '')}`);
    }
    for (const o of n.options) lines.push(`complete -c edgebox -n ${quote(inHere)} -l ${o.flag.slice(2)} -d ${quote(o.description)}`);
  }
  return [...lines, ''].join('\n');
}

export function completionScript(shell: Shell, nodes: readonly CompletionNode[]): string {
  return shell === 'bash' ? bash(nodes) : shell === 'zsh' ? zsh(nodes) : fish(nodes);
}
