import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { failure } from '../../diagnostics/diagnostic.js';
import { requireBoxDir, resolveBoxDir } from '../../local/box-dir.js';
import { TIMINGS_NAMES, type TimingsName } from '../../local/components.js';
import { boxFiles } from '../../local/credentials.js';
import { down } from '../../local/down.js';
import { killModule, reviveModule } from '../../local/failure-injection.js';
import { seconds, type Progress } from '../../local/progress.js';
import { setup } from '../../local/setup.js';
import { boxStatus, type BoxStatus } from '../../local/status.js';
import { up } from '../../local/up.js';
import { formatBytes } from '../../spec/quantity.js';
import { emit, outputOption, type OutputFormat } from '../output.js';
import { table } from '../table.js';

/** Progress goes to stderr so stdout stays the command's result. */
const toStderr: Progress = (line) => process.stderr.write(`${line}\n`);

const dirOption = (fallback = '<cache>/boxes/<box name>, or the only running box') => new Option('--dir <dir>', `box directory (default: ${fallback})`);

interface BoxArgs {
  dir?: string;
  spec?: string;
}

export function registerLocal(program: Command): void {
  const local = program
    .command('local')
    .description('a real Kubernetes control plane on this machine, with the box\'s modules simulated as nodes by KWOK');

  local
    .command('setup')
    .description('build kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok from Go modules into the cache')
    .action(async () => {
      const result = await setup({ progress: toStderr });
      const built = result.binaries.filter((b) => b.built);
      process.stdout.write(built.length === 0
        ? `all binaries already built in ${result.paths.bin}\n`
        : `built ${built.map((b) => `${b.name} (${seconds(b.ms)})`).join(', ')} in ${result.paths.bin}\n`);
    });

  local
    .command('up')
    .description('start a local box for a spec and create one Ready node per module')
    .argument('<spec>', 'box spec file (YAML)')
    .addOption(dirOption('<cache>/boxes/<box name>'))
    .addOption(new Option('--timings <timings>', 'failover timings: Kubernetes defaults, or the tuned values render writes').choices(TIMINGS_NAMES).default('default'))
    .action(async (spec: string, opts: { dir?: string; timings: TimingsName }) => {
      const result = await up(spec, { ...(opts.dir ? { dir: opts.dir } : {}), timings: opts.timings, progress: toStderr });
      const { state } = result;
      process.stdout.write(result.alreadyRunning
        ? `box '${state.box}' is already running in ${state.dir} (timings: ${state.timings})\n`
        : `box '${state.box}' is up in ${seconds(result.ms)}: ${state.components.length} components, API server https://127.0.0.1:${state.ports.apiserver}\n`);
      process.stdout.write(`kubeconfig: ${result.kubeconfig}\n  export KUBECONFIG=${result.kubeconfig}\n  kubectl get nodes -L edgebox.dev/module,edgebox.dev/hardware\n`);
    });

  local
    .command('down')
    .description('stop every component of a local box (idempotent)')
    .argument('[spec]', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .action(async (spec: string | undefined, opts: { dir?: string }) => {
      const dir = await resolveBoxDir(boxArgs(spec, opts));
      if (dir === undefined) {
        process.stdout.write('no local box is running\n');
        return;
      }
      const result = await down(dir);
      process.stdout.write(result.stopped.length === 0
        ? `nothing running in ${dir}\n`
        : `box '${result.box}' stopped (${result.stopped.join(', ')}); logs stay in ${dir}/logs\n`);
    });

  local
    .command('status')
    .description('show each component and each node of a local box; exit 1 if a component crashed')
    .argument('[spec]', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .addOption(outputOption())
    .action(async (spec: string | undefined, opts: { dir?: string; output: OutputFormat }) => {
      const dir = await resolveBoxDir(boxArgs(spec, opts));
      if (dir === undefined) {
        emit({ components: [], nodes: [] }, opts.output, () => 'no local box is running\n');
        return;
      }
      const status = await boxStatus(dir);
      emit(status, opts.output, statusText);
      const crashed = status.components.filter((c) => c.phase === 'crashed');
      if (crashed.length > 0) {
        throw failure('local.component-crashed', `crashed: ${crashed.map((c) => `${c.name} (log: ${c.log})`).join(', ')}`,
          `read the log; then \`edgebox local down --dir ${dir}\` and \`edgebox local up\` to start afresh`);
      }
    });

  local
    .command('kubeconfig')
    .description('print the path of a local box\'s kubeconfig (or its content)')
    .argument('[spec]', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .option('--content', 'print the kubeconfig itself instead of its path')
    .action(async (spec: string | undefined, opts: { dir?: string; content?: boolean }) => {
      const dir = await requireBoxDir(boxArgs(spec, opts));
      const file = boxFiles(dir).kubeconfig;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        throw failure('local.no-kubeconfig', `no kubeconfig in ${dir}`, 'start the box with `edgebox local up <spec>`');
      }
      process.stdout.write(opts.content ? text : `${file}\n`);
    });

  for (const [name, act, verb] of [
    ['kill', killModule, 'stop the module\'s heartbeat, as if it lost power: its node goes NotReady through the node lifecycle controller'],
    ['revive', reviveModule, 'restart a killed module\'s heartbeat: its node becomes Ready again'],
  ] as const) {
    local
      .command(name)
      .description(verb)
      .argument('<module>', 'module name (as in the spec)')
      .option('--spec <spec>', 'box spec file, to find its box directory')
      .addOption(dirOption())
      .action(async (module: string, opts: { dir?: string; spec?: string }) => {
        const dir = await requireBoxDir(opts);
        const result = await act(dir, module);
        const done = name === 'kill' ? 'stopped heartbeating' : 'heartbeats again';
        const already = name === 'kill' ? 'is already killed' : 'is not killed';
        process.stdout.write(result.changed ? `module ${module} ${done}\n` : `module ${module} ${already}; nothing to do\n`);
      });
  }
}

function boxArgs(spec: string | undefined, opts: { dir?: string }): BoxArgs {
  return { ...(opts.dir ? { dir: opts.dir } : {}), ...(spec ? { spec } : {}) };
}

function statusText(s: BoxStatus): string {
  const head = s.box ? `box '${s.box}' in ${s.dir} (timings: ${s.timings})\n` : `no box running in ${s.dir}\n`;
  const components = table(['COMPONENT', 'STATE', 'PID', 'RSS', 'LOG'], s.components.map((c) => [
    c.name, c.phase, c.pid ? String(c.pid) : '-', c.rssBytes ? formatBytes(c.rssBytes) : '-', c.log ?? '-',
  ]));
  const nodes = s.nodes.length === 0
    ? ''
    : `\n${table(['NODE', 'READY', 'ADDRESS', 'HEARTBEAT'], s.nodes.map((n) => [n.name, n.ready, n.address ?? '-', n.killed ? 'killed' : 'kwok']))}`;
  const nodesError = s.nodesError ? `\nnodes: cannot list (${s.nodesError})\n` : '';
  return `${head}${components}${nodes}${nodesError}${s.kubeconfig ? `kubeconfig: ${s.kubeconfig}\n` : ''}`;
}
