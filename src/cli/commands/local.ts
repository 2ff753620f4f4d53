import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { failure, inputError } from '../../diagnostics/diagnostic.js';
import { requireBoxDir, resolveBoxDir } from '../../local/box-dir.js';
import { TIMINGS_NAMES, type TimingsName } from '../../local/timings.js';
import { boxFiles } from '../../local/credentials.js';
import { down } from '../../local/down.js';
import { killModule, reviveModule } from '../../local/failure-injection.js';
import { healIsolations, healPartitions, isolateModule, partitionModules } from '../../local/partition.js';
import { seconds, type Progress } from '../../local/progress.js';
import { setup } from '../../local/setup.js';
import { boxStatus, type BoxStatus, type ProcessStatus } from '../../local/status.js';
import { up } from '../../local/up.js';
import type { ControlPlaneMode } from '../../local/box-state.js';
import { formatBytes } from '../../spec/quantity.js';
import { emit, outputOption, type OutputFormat } from '../output.js';
import { table } from '../../base/table.js';

/** Progress goes to stderr so stdout stays the command's result. */
const toStderr: Progress = (line) => process.stderr.write(`${line}\n`);

const dirOption = (fallback = '<cache>/boxes/<box name>, or the only running box') => new Option('--dir <dir>', `box directory (default: ${fallback})`);

interface BoxArgs {
  dir?: string;
  spec?: string;
}

export function registerLocal(program: Command): void {
  const local = program.command('local').description("a real Kubernetes control plane on this machine, with the box's modules simulated as nodes by KWOK");

  local
    .command('setup')
    .description('build kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok from Go modules into the cache')
    .action(async () => {
      const result = await setup({ progress: toStderr });
      const built = result.binaries.filter((b) => b.built);
      process.stdout.write(
        built.length === 0
          ? `all binaries already built in ${result.paths.bin}\n`
          : `built ${built.map((b) => `${b.name} (${seconds(b.ms)})`).join(', ')} in ${result.paths.bin}\n`,
      );
    });

  local
    .command('up')
    .description('start a local box for a spec and create one Ready node per module (with agents and controllers if asked)')
    .argument('<spec>', 'box spec file (YAML)')
    .addOption(dirOption('<cache>/boxes/<box name>'))
    .addOption(
      new Option('--timings <timings>', 'failover timings: Kubernetes defaults, or the tuned values render writes').choices(TIMINGS_NAMES).default('default'),
    )
    .option('--with-agents', "also run one `edgebox agent run` per module, on its 127.0.1.N (UDP port: the spec's failover.port)")
    .addOption(
      new Option(
        '--control-plane <mode>',
        "spec: as many etcd + kube-apiserver pairs as controlPlane.servers, on the initial servers' addresses; single: one pair (tests and benchmarks whose subject is not the control plane)",
      )
        .choices(['spec', 'single'])
        .default('spec'),
    )
    .option('--with-controller', 'also run `edgebox controller` (self-healing: detection, fencing, rejoin)')
    .addOption(
      new Option('--controllers <n>', 'how many controllers with --with-controller (2 or more: leader failover)').argParser(controllerCount).default(1),
    )
    .action(
      async (
        spec: string,
        opts: { dir?: string; timings: TimingsName; controlPlane: ControlPlaneMode; withAgents?: boolean; withController?: boolean; controllers: number },
      ) => {
        const result = await up(spec, {
          ...(opts.dir ? { dir: opts.dir } : {}),
          timings: opts.timings,
          controlPlane: opts.controlPlane,
          withAgents: opts.withAgents === true,
          withController: opts.withController === true,
          controllers: opts.controllers,
          progress: toStderr,
        });
        const { state } = result;
        const extras = [
          ...(state.agents?.length ? [`${state.agents.length} agents (UDP ${state.agents[0]!.port})`] : []),
          ...(state.controllers?.length ? [`${state.controllers.length} controller(s)`] : []),
        ];
        const what = `${state.controlPlane.initialServers.length} server(s) (${state.controlPlane.initialServers.join(', ')}), ${state.components.length} components${extras.map((e) => `, ${e}`).join('')}`;
        process.stdout.write(
          result.alreadyRunning
            ? `box '${state.box}' is already running in ${state.dir} (timings: ${state.timings}; ${what})\n`
            : `box '${state.box}' is up in ${seconds(result.ms)}: ${what}, API server https://127.0.0.1:${state.ports.apiserver}${result.started.length ? `; started ${result.started.join(', ')}` : ''}\n`,
        );
        process.stdout.write(
          `kubeconfig: ${result.kubeconfig}\n  export KUBECONFIG=${result.kubeconfig}\n  kubectl get nodes -L edgebox.dev/module,edgebox.dev/hardware\n`,
        );
      },
    );

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
      process.stdout.write(
        result.stopped.length === 0 ? `nothing running in ${dir}\n` : `box '${result.box}' stopped (${result.stopped.join(', ')}); logs stay in ${dir}/logs\n`,
      );
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
      const crashedComponents = status.components.filter((c) => c.phase === 'crashed').map((c) => ({ label: c.name, log: c.log }));
      const crashed = [
        ...crashedComponents,
        ...status.agents.filter((a) => a.phase === 'crashed').map((a) => ({ label: `agent ${a.module}`, log: a.log })),
        ...status.controllers.filter((c) => c.phase === 'crashed').map((c) => ({ label: c.id, log: c.log })),
      ];
      if (crashed.length > 0) {
        throw failure(
          'local.component-crashed',
          `crashed: ${crashed.map((c) => `${c.label} (log: ${c.log})`).join(', ')}`,
          crashedComponents.length > 0
            ? `read the log; then \`edgebox local down --dir ${dir}\` and \`edgebox local up\` to start afresh`
            : `read the log; \`edgebox local up <spec> --dir ${dir}\` with --with-agents / --with-controller restarts only what crashed`,
        );
      }
    });

  local
    .command('kubeconfig')
    .description("print the path of a local box's kubeconfig (or its content)")
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
    ['kill', killModule, "stop the module's heartbeat and its agent, as if it lost power: its node goes NotReady through the node lifecycle controller"],
    ['revive', reviveModule, "restart a killed module's heartbeat and its agent: its node becomes Ready again"],
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

  local
    .command('partition')
    .description("drop the agents' heartbeats between a module and one peer, both ways (iptables; needs root)")
    .argument('<module>', 'module name (as in the spec)')
    .requiredOption('--from <peer>', 'the one peer it is cut off from')
    .option('--spec <spec>', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .action(async (module: string, opts: { from: string; dir?: string; spec?: string }) => {
      const dir = await requireBoxDir(opts);
      const result = await partitionModules(dir, module, opts.from);
      process.stdout.write(
        result.changed
          ? `heartbeats between ${module} and ${opts.from} are dropped (UDP ${result.rules[0]!.port}); undo with \`edgebox local heal ${module}\`\n`
          : `${module} is already cut off from ${opts.from}; nothing to do\n`,
      );
    });

  local
    .command('isolate')
    .description(
      "cut a module off from every peer's heartbeats and from the API server, alive (iptables; needs root): its agent fences itself, its node stops heartbeating",
    )
    .argument('<module>', 'module name (as in the spec)')
    .option('--spec <spec>', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .action(async (module: string, opts: { dir?: string; spec?: string }) => {
      const dir = await requireBoxDir(opts);
      const result = await isolateModule(dir, module);
      const ports = [...new Set(result.rules.map((r) => `${r.protocol.toUpperCase()} ${r.port}`))].join(', ');
      process.stdout.write(
        result.changed
          ? `${module} is cut off from its peers and the API (${ports} dropped); undo with \`edgebox local heal ${module}\`\n`
          : `${module} is already isolated; nothing to do\n`,
      );
    });

  local
    .command('heal')
    .description('undo `partition` and `isolate`: the module hears its peers and reaches the API again')
    .argument('[module]', 'module name (default: every partition of the box)')
    .option('--from <peer>', 'only the partition from this peer')
    .option('--spec <spec>', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .action(async (module: string | undefined, opts: { from?: string; dir?: string; spec?: string }) => {
      const dir = await requireBoxDir(opts);
      const healed = await healPartitions(dir, { ...(module ? { module } : {}), ...(opts.from ? { peer: opts.from } : {}) });
      // --from names one partition; isolation has no peer.
      const rejoined = opts.from ? [] : await healIsolations(dir, module);
      const what = [...healed.map((p) => `${p.module} <-> ${p.peer}`), ...rejoined.map((m) => `${m} (isolated)`)];
      process.stdout.write(what.length === 0 ? 'no partition or isolation to heal\n' : `healed ${what.join(', ')}\n`);
    });
}

/** `--controllers`: 1-3 (more would only load a 2-core machine; two are enough for leader failover). */
function controllerCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 3) {
    throw inputError('local.bad-controllers', `--controllers must be 1, 2 or 3, not '${value}'`, 'pass --controllers 2 to run a standby beside the leader');
  }
  return n;
}

function boxArgs(spec: string | undefined, opts: { dir?: string }): BoxArgs {
  return { ...(opts.dir ? { dir: opts.dir } : {}), ...(spec ? { spec } : {}) };
}

function statusText(s: BoxStatus): string {
  const head = s.box ? `box '${s.box}' in ${s.dir} (timings: ${s.timings})\n` : `no box running in ${s.dir}\n`;
  const row = (name: string, p: ProcessStatus, note = '') => [
    name,
    `${p.phase}${note}`,
    p.pid ? String(p.pid) : '-',
    p.rssBytes ? formatBytes(p.rssBytes) : '-',
    p.log ?? '-',
  ];
  const components = table(
    ['COMPONENT', 'STATE', 'PID', 'RSS', 'LOG'],
    [
      ...s.components.map((c) => row(c.name, c, c.restarts ? ` (restarted ${c.restarts}x)` : '')),
      ...s.servers.flatMap((x) => [row(`etcd ${x.module} (${x.address})`, x.etcd), row(`kube-apiserver ${x.module} (${x.address})`, x.apiserver)]),
      ...s.agents.map((a) => row(`agent ${a.module} (${a.address})`, a)),
      ...s.controllers.map((c) => row(c.id, c, c.leader ? ' (leader)' : '')),
    ],
  );
  const nodes =
    s.nodes.length === 0
      ? ''
      : `\n${table(
          ['NODE', 'READY', 'ADDRESS', 'HEARTBEAT'],
          s.nodes.map((n) => [n.name, n.ready, n.address ?? '-', n.killed ? 'killed' : 'kwok']),
        )}`;
  const partitions =
    s.partitions.length === 0 ? '' : `\npartitioned (heartbeats dropped): ${s.partitions.map((p) => `${p.module} <-> ${p.peer}`).join(', ')}\n`;
  const isolated = s.isolated.length === 0 ? '' : `\nisolated (cut off from peers and API): ${s.isolated.join(', ')}\n`;
  const nodesError = s.nodesError ? `\nnodes: cannot list (${s.nodesError})\n` : '';
  return `${head}${components}${nodes}${partitions}${isolated}${nodesError}${s.kubeconfig ? `kubeconfig: ${s.kubeconfig}\n` : ''}`;
}
