import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { failure, inputError } from '../../diagnostics/diagnostic.js';
import { requireBoxDir, resolveBoxDir } from '../../local/box-dir.js';
import { TIMINGS_NAMES, type TimingsName } from '../../local/timings.js';
import { boxFiles } from '../../local/credentials.js';
import { down } from '../../local/down.js';
import { killModule, reviveModule } from '../../local/failure-injection.js';
import { healModules, isolateModule, partitionModules, type Cut, type NetworkChange } from '../../local/partition.js';
import { seconds, type Progress } from '../../local/progress.js';
import { setup } from '../../local/setup.js';
import { ENGINES, type EngineName } from '../../local/engine/engine.js';
import { setupK3s } from '../../local/engine/k3s-setup.js';
import { boxStatus, type BoxStatus, type ProcessStatus } from '../../local/status.js';
import { up } from '../../local/up.js';
import { DEFAULT_POD_START, type PodStart } from '../../local/kwok-stages.js';
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
    .description(
      'build kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok, and the packaging tools helm, crane and promtool, from Go modules into the cache (and K3s with --engine k3s)',
    )
    .addOption(engineOption())
    .option('--k3s-binary <path>', 'with --engine k3s: an official K3s release binary to copy into the cache')
    .option('--k3s-source <path>', 'with --engine k3s: a K3s source tree or .tar.gz to build (about 13 minutes on 2 cores; cached by version)')
    .action(async (opts: { engine: EngineName; k3sBinary?: string; k3sSource?: string }) => {
      if (opts.engine !== 'k3s' && (opts.k3sBinary || opts.k3sSource)) {
        throw inputError('local.k3s-without-engine', '--k3s-binary and --k3s-source need --engine k3s', 'add --engine k3s');
      }
      if (opts.k3sBinary && opts.k3sSource)
        throw inputError('local.k3s-two-sources', 'give --k3s-binary or --k3s-source, not both', 'a release binary needs no build: prefer --k3s-binary');
      const result = await setup({ progress: toStderr });
      const built = result.binaries.filter((b) => b.built);
      process.stdout.write(
        built.length === 0
          ? `all binaries already built in ${result.paths.bin} and ${result.packaging.paths.bin}\n`
          : `built ${built.map((b) => `${b.name} (${seconds(b.ms)})`).join(', ')} into ${result.paths.bin} and ${result.packaging.paths.bin}\n`,
      );
      if (opts.engine === 'k3s') {
        const k3s = await setupK3s({
          ...(opts.k3sBinary ? { binary: opts.k3sBinary } : {}),
          ...(opts.k3sSource ? { source: opts.k3sSource } : {}),
          progress: toStderr,
        });
        process.stdout.write(k3s.built ? `built k3s ${k3s.version} (${seconds(k3s.ms)}) in ${k3s.path}\n` : `k3s ${k3s.version} ready in ${k3s.path}\n`);
      }
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
    .addOption(
      new Option('--pod-start <range>', 'how long a pod takes to start on a module, drawn per pod: `1s-3s`, `500ms-2s`, or `0`')
        .argParser(podStartRange)
        .default(DEFAULT_POD_START, '1s-3s (a container start on an SoC module)'),
    )
    .option('--clock-faults', "give each module's agent a wall clock of its own, for clock-step faults (needs libfaketime)")
    .addOption(engineOption())
    .action(
      async (
        spec: string,
        opts: {
          dir?: string;
          timings: TimingsName;
          controlPlane: ControlPlaneMode;
          withAgents?: boolean;
          withController?: boolean;
          controllers: number;
          podStart: PodStart;
          clockFaults?: boolean;
          engine: EngineName;
        },
      ) => {
        const result = await up(spec, {
          engine: opts.engine,
          ...(opts.dir ? { dir: opts.dir } : {}),
          timings: opts.timings,
          controlPlane: opts.controlPlane,
          withAgents: opts.withAgents === true,
          withController: opts.withController === true,
          controllers: opts.controllers,
          podStart: opts.podStart,
          clockFaults: opts.clockFaults === true,
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
    .command('exec')
    .description(
      'K3s engine: run a command as on the module itself (its network, its /etc, /var/lib/rancher/k3s and /run/edgebox; systemctl, systemd-run, k3s and kubectl played by the box), so the runbooks in docs/runbooks work here word for word',
    )
    .argument('<module>', 'a module that may serve')
    .argument('<command...>', 'the command and its arguments, after `--`')
    .option('--spec <spec>', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .action(async (module: string, command: string[], opts: { dir?: string; spec?: string }) => {
      const dir = await requireBoxDir(opts);
      const { execOnModule } = await import('../../local/engine/k3s-shell.js');
      process.exitCode = (await execOnModule(dir, module, command)).code;
    });

  // What `local exec`'s systemctl, systemd-run and k3s call: the module's host (k3s-host.ts).
  local
    .command('host-command', { hidden: true })
    .argument('<module>')
    .argument('<command...>')
    .addOption(dirOption())
    .action(async (module: string, command: string[], opts: { dir?: string }) => {
      const dir = await requireBoxDir(opts);
      const { k3sModuleHost } = await import('../../local/engine/k3s-host.js');
      const r = await k3sModuleHost(dir, module).run(command, { timeoutMs: 15 * 60_000 });
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    });

  const list = (v: string) =>
    v
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean);
  const describeCuts = (r: NetworkChange) => (r.offApi.length === 0 ? '' : `; cut off from the API (their nodes no longer renewed): ${r.offApi.join(', ')}`);

  local
    .command('partition')
    .description(
      'cut modules off from others, all traffic (heartbeats, etcd, API), as a broken link would (iptables; needs root); a module that no longer reaches a quorum of the etcd members loses the API too',
    )
    .argument('<modules>', 'comma-separated module names: one side of the partition')
    .option('--from <modules>', 'comma-separated: the other side (default: every other module)')
    .option('--one-way', "only the first side's packets to the other side are dropped (an asymmetric fault)")
    .option('--spec <spec>', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .action(async (modules: string, opts: { from?: string; oneWay?: boolean; dir?: string; spec?: string }) => {
      const dir = await requireBoxDir(opts);
      const group = list(modules);
      const result = await partitionModules(dir, group, { ...(opts.from ? { from: list(opts.from) } : {}), ...(opts.oneWay ? { oneWay: true } : {}) });
      const other = opts.from ?? 'every other module';
      process.stdout.write(
        result.changed.length > 0
          ? `${group.join(', ')} cut off from ${other}${opts.oneWay ? ' (one way)' : ''}${describeCuts(result)}; undo with \`edgebox local heal\`\n`
          : `${group.join(', ')} is already cut off from ${other}; nothing to do\n`,
      );
    });

  local
    .command('isolate')
    .description('cut a module off from everything, alive (iptables; needs root): peers, etcd, API; its agent fences itself, its node stops heartbeating')
    .argument('<module>', 'module name (as in the spec)')
    .option('--spec <spec>', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .action(async (module: string, opts: { dir?: string; spec?: string }) => {
      const dir = await requireBoxDir(opts);
      const result = await isolateModule(dir, module);
      process.stdout.write(
        result.changed.length > 0
          ? `${module} is cut off from everything (peers, etcd, API); undo with \`edgebox local heal ${module}\`\n`
          : `${module} is already isolated; nothing to do\n`,
      );
    });

  local
    .command('heal')
    .description('undo `partition` and `isolate`: the module reaches its peers and the API again')
    .argument('[module]', 'module name (default: every cut of the box)')
    .option('--from <peer>', 'only the cuts between the module and this peer')
    .option('--spec <spec>', 'box spec file, to find its box directory')
    .addOption(dirOption())
    .action(async (module: string | undefined, opts: { from?: string; dir?: string; spec?: string }) => {
      const dir = await requireBoxDir(opts);
      const result = await healModules(dir, { ...(module ? { module } : {}), ...(opts.from ? { peer: opts.from } : {}) });
      const healed = result.changed.filter((c) => c.kind !== 'no-api').map(cutText);
      process.stdout.write(healed.length === 0 ? 'no partition or isolation to heal\n' : `healed ${healed.join(', ')}${describeCuts(result)}\n`);
    });
}

function engineOption(): Option {
  return new Option(
    '--engine <engine>',
    'what runs the control plane: process (upstream etcd + kube-apiserver per server module), or k3s (a real `k3s server` per server module, from its rendered config.yaml, in its own network namespace; needs root)',
  )
    .choices(ENGINES)
    .default('process');
}

function cutText(c: Cut): string {
  return c.kind === 'cut' ? `${c.from} -> ${c.to}` : `${c.module} (${c.kind === 'isolate' ? 'isolated' : 'no API'})`;
}

/** `--pod-start`: `0`, or `<min>-<max>`, each a number with `ms` or `s` (`1s-3s`). */
export function podStartRange(value: string): PodStart {
  if (value.trim() === '0') return { minMs: 0, maxMs: 0 };
  const ms = (part: string) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(part.trim());
    return m ? Math.round(Number(m[1]) * (m[2] === 's' ? 1000 : 1)) : undefined;
  };
  const [a, b, ...rest] = value.split('-');
  const min = a === undefined ? undefined : ms(a);
  const max = b === undefined ? undefined : ms(b);
  if (rest.length > 0 || min === undefined || max === undefined || min > max || max > 600_000) {
    throw inputError(
      'local.bad-pod-start',
      `--pod-start must be \`0\` or a range such as \`1s-3s\`, not '${value}'`,
      'give the shortest and longest start, each with ms or s, the first not above the second (at most 10 min)',
    );
  }
  return { minMs: min, maxMs: max };
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
      ...s.servers.flatMap((x) =>
        x.k3s
          ? [row(`k3s server ${x.module} (${x.address})`, x.k3s)]
          : [row(`etcd ${x.module} (${x.address})`, x.etcd), row(`kube-apiserver ${x.module} (${x.address})`, x.apiserver)],
      ),
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
  const cuts = s.cuts.length === 0 ? '' : `\nnetwork cuts: ${s.cuts.map(cutText).join(', ')}\n`;
  const nodesError = s.nodesError ? `\nnodes: cannot list (${s.nodesError})\n` : '';
  return `${head}${components}${nodes}${cuts}${nodesError}${s.kubeconfig ? `kubeconfig: ${s.kubeconfig}\n` : ''}`;
}
