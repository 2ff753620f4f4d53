import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { execRunner } from '../../agent/grant/device.js';
import { historyFile } from '../../agent/grant/history-file.js';
import { findHardware } from '../../catalog/hardware.js';
import { discover } from '../../agent/discovery/discover.js';
import { hostFs } from '../../agent/discovery/host-fs.js';
import type { Discovery } from '../../agent/discovery/types.js';
import type { PublishReport } from '../../agent/publish.js';
import type { ApiTarget } from '../../agent/api/kubeconfig.js';
import { apiTargetFromJson, apiTargetToJson, type ApiTargetJson } from '../../agent/api/target-json.js';
import { startAgent } from '../../agent/start-agent.js';
import { nextIncarnation } from '../../agent/heartbeat/incarnation.js';
import { logUnhandledRejections } from '../../base/unhandled.js';
import { powerDrivers } from '../../power/drivers.js';
import { DEFAULT_HTTP_PORT, DEFAULT_METRICS_PORT, readAddressMap, resolveAgentConfig, type AgentConfig } from '../../agent/heartbeat/config.js';
import { jsonLog, type Log } from '../../base/log.js';
import { createSecretFile, readSecret } from '../../agent/heartbeat/secret.js';
import { metricsToken } from '../../agent/heartbeat/metrics-token.js';
import { noRuntime, RUNTIME_DRIVERS, type RuntimeDriverName } from '../../agent/self-fence/runtime.js';
import type { RoleDriver, RoleDriverName } from '../../contract/role-driver.js';
import { EdgeboxError, inputError } from '../../diagnostics/diagnostic.js';
import { formatBytes } from '../../spec/quantity.js';
import { untilSignal } from '../until-signal.js';
import { contextOption, emit, ERROR_FORMAT_ENV, outputOption, requestedFormat, type OutputFormat } from '../output.js';
import { table } from '../../base/table.js';

const ROOT_HELP = "the module's root filesystem to read /proc, /sys, /dev and /etc under";

export function registerAgent(program: Command): void {
  const agent = program.command('agent').description('what runs on each module: hardware discovery, heartbeats with its peers and its view of them');

  agent
    .command('discover')
    .description('read what this module is and can do: catalog hardware id, capabilities, resources')
    .option('--root <dir>', ROOT_HELP, '/')
    .addOption(outputOption())
    .action(async (opts: { root: string; output: OutputFormat }) => {
      const d = await discover(hostFs(opts.root));
      emit(d, opts.output, formatDiscovery);
    });

  agent
    .command('publish')
    .description('discover once and publish it: node labels, extended resources, findings in the EdgeBox status and Events')
    .requiredOption('--node <name>', 'the node of this module')
    .requiredOption('--spec <file>', 'box spec file (YAML) to compare with')
    .option('--root <dir>', ROOT_HELP, '/')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .addOption(contextOption())
    .addOption(outputOption())
    .action(async (opts: { node: string; spec: string; root: string; kubeconfig?: string; context?: string; output: OutputFormat }) => {
      // The client library is loaded only here: `agent run` must stay within its memory budget.
      const [{ loadKubeConfig, kubeconfigFlags }, { publish }, { loadSpec }] = await Promise.all([
        import('../../kube/kubeconfig.js'),
        import('../../agent/publish.js'),
        import('../../spec/load.js'),
      ]);
      const { box } = await loadSpec(opts.spec);
      const kc = loadKubeConfig(kubeconfigFlags(opts));
      const discovery = await discover(hostFs(opts.root));
      const report = await publish({ kc, box, node: opts.node, discovery });
      emit({ discovery, publish: report }, opts.output, (r) => `${formatDiscovery(r.discovery)}\n${formatPublish(r.publish)}`);
    });

  agentFlags(agent.command('config').description('validate the spec and print what `agent run` would use: peers, addresses, ports, timings'))
    .addOption(outputOption())
    // For `agent run` only (resolveInChild): the API target read from this kubeconfig, credentials included.
    .addOption(new Option('--api-target-of <kubeconfig>').hideHelp())
    .addOption(new Option('--api-context <name>').hideHelp())
    .action(async (opts: RunFlags & { output: OutputFormat; apiTargetOf?: string; apiContext?: string }) => {
      const cfg = await resolveFromSpec(opts);
      if (opts.apiTargetOf !== undefined) {
        const { readApiTarget } = await import('../../agent/api/kubeconfig.js');
        const resolved: Resolved = { config: cfg, api: apiTargetToJson(await readApiTarget(opts.apiTargetOf, opts.apiContext)) };
        process.stdout.write(JSON.stringify(resolved));
        return;
      }
      emit(
        cfg,
        opts.output,
        (c) =>
          `${c.module} of box ${c.box}: heartbeats on ${c.address}:${c.port} every ${c.intervalMs} ms, a peer is unreachable after ${c.missedHeartbeats} missed\n` +
          table(
            ['PEER', 'ADDRESS'],
            c.peers.map((p) => [p.name, p.address]),
          ),
      );
    });

  agentFlags(
    agent
      .command('run')
      .description(
        "heartbeat the box's other modules over UDP, publish this module's view of them on its Lease, serve /healthz, /peers and /metrics; runs until SIGTERM or SIGINT",
      ),
  )
    .requiredOption('--secret-file <path>', 'the box secret, the same file on every module (`edgebox agent secret <path>` makes one)')
    .option('--kubeconfig <path>', 'kubeconfig of the API server to publish the view to (default: none; the view is then only on HTTP)')
    .addOption(contextOption())
    .option(
      '--api-servers <urls>',
      "other API servers of the box, comma-separated https URLs, tried in turn when the kubeconfig's gives no answer (render lists every module that may serve)",
    )
    .option(
      '--state-dir <dir>',
      'where the agent keeps what must outlive it: its incarnation counter, which lets peers tell a restart from a replay (default: /var/lib/edgebox/agent; in a local box, agent/<module> in the working directory, the box dir)',
    )
    .option(
      '--peripheral-history <file>',
      'where grants and releases of exclusive peripherals are logged, JSON lines (default: /var/lib/edgebox/peripherals/<module>.jsonl; in a local box, peripherals/<module>.jsonl in the working directory, the box dir)',
    )
    .addOption(
      new Option(
        '--runtime <driver>',
        'how the module stops its singletons when it fences itself (cut off from most peers and the API): k3s (crictl and systemctl), local (a local box: records them in --runtime-file), none (decide and report only)',
      )
        .choices(RUNTIME_DRIVERS)
        .default('none'),
    )
    .option(
      '--runtime-file <file>',
      'with --runtime local: the JSON-lines file it records stops and resumes in (a local box: modules/<module>/runtime.jsonl in its box dir)',
    )
    .addOption(
      new Option(
        '--runtime-api-socket <path>',
        "with --runtime local: the local box API address's Unix socket, over which the simulated runtime lists the module's pods whatever the network faults",
      ).hideHelp(),
    )
    .addOption(
      new Option(
        '--device-actions <how>',
        'exec: act on devices (ip link, the Turing Pi BMC); record: only log what would be done (default: record when bound to a loopback address, a local box; else exec)',
      ).choices(['exec', 'record']),
    )
    .addOption(
      new Option(
        '--role-driver <driver>',
        'how the agent takes its module between agent and server when the guardian asks: k3s (a K3s module: config.yaml and the k3s/k3s-agent units, docs/runbooks/control-plane.md), process (a local box: an etcd member and an API server run by the agent) (default: none, the module keeps its role)',
      ).choices(ROLE_DRIVERS),
    )
    .option(
      '--local-dir <dir>',
      "a local box directory: with --role-driver process, its state.json says ports and binaries and the member's data and pids go under modules/<module>/; with --role-driver k3s, the box plays the module's systemd and files (src/local/engine/k3s-host.ts)",
    )
    .action(
      async (
        opts: RunFlags & {
          secretFile: string;
          stateDir?: string;
          kubeconfig?: string;
          context?: string;
          apiServers?: string;
          peripheralHistory?: string;
          deviceActions?: 'exec' | 'record';
          runtime: RuntimeDriverName;
          runtimeFile?: string;
          runtimeApiSocket?: string;
          roleDriver?: RoleDriverName;
          localDir?: string;
        },
      ) => {
        if (opts.roleDriver === 'process' && !opts.localDir)
          throw inputError(
            'agent.local-dir-missing',
            '--role-driver process needs --local-dir',
            'pass --local-dir <box dir> (`edgebox local up --with-agents` does)',
          );
        if (opts.runtime === 'local' && !opts.runtimeFile)
          throw inputError(
            'agent.runtime-file-missing',
            '--runtime local needs --runtime-file',
            'pass --runtime-file <box dir>/modules/<module>/runtime.jsonl',
          );
        const resolved = resolveInChild(opts, opts.kubeconfig, opts.context);
        const cfg = resolved.config;
        const secret = await readSecret(opts.secretFile);
        const api = resolved.api ? withFallbacks(apiTargetFromJson(resolved.api), opts.apiServers) : undefined;
        const log = jsonLog({ module: cfg.module });
        logUnhandledRejections(log, 'agent');
        if (secret.readableByOthers)
          log('warn', 'the box secret is readable by group or others', { path: opts.secretFile, hint: `chmod 600 ${opts.secretFile}` });
        const local = cfg.address === '::1' || cfg.address.startsWith('127.');
        const user = process.env.EDGEBOX_BMC_USERNAME;
        const password = process.env.EDGEBOX_BMC_PASSWORD;
        const grants = {
          history: historyFile(
            opts.peripheralHistory ?? (local ? resolve('peripherals', `${cfg.module}.jsonl`) : `/var/lib/edgebox/peripherals/${cfg.module}.jsonl`),
          ),
          // Recorded: the history already holds each action as a `device` line.
          runDevice:
            (opts.deviceActions ?? (local ? 'record' : 'exec')) === 'exec'
              ? execRunner(user !== undefined && password !== undefined ? { bmc: { username: user, password } } : {})
              : () => Promise.resolve(),
        };
        const runtime = await runtimeDriver(opts.runtime, {
          module: cfg.module,
          ...(opts.runtimeFile ? { file: opts.runtimeFile } : {}),
          ...(opts.runtimeApiSocket ? { socket: opts.runtimeApiSocket } : {}),
          ...(api ? { api } : {}),
        });
        const role = opts.roleDriver
          ? await roleDriver(opts.roleDriver, { cfg, spec: opts.spec, log, ...(api ? { api } : {}), ...(opts.localDir ? { localDir: opts.localDir } : {}) })
          : undefined;
        // Quorum loss: the agent powers missing voters off with their power driver (a local box's `local` needs --local-dir).
        const power = role
          ? await powerDrivers(Object.values(cfg.quorum.power), {
              ...(opts.localDir ? { localDir: resolve(opts.localDir) } : {}),
              ...(user !== undefined && password !== undefined ? { bmc: { username: user, password } } : {}),
            })
          : undefined;
        const stateDir = opts.stateDir ?? (local ? resolve('agent', cfg.module) : '/var/lib/edgebox/agent');
        const { incarnation, error: incarnationError } = await nextIncarnation(stateDir);
        if (incarnationError)
          log('error', 'cannot keep the incarnation counter; using the start time instead', {
            error: incarnationError,
            hint: `make ${stateDir} writable by the agent (a peer takes a lower incarnation only after the old one is silent for 2 s)`,
          });
        const running = await startAgent(cfg, {
          log,
          secret: secret.key,
          incarnation,
          grants,
          runtime,
          ...(api ? { api } : {}),
          ...(role ? { roleDriver: role } : {}),
          ...(power ? { powerDriver: power } : {}),
        });
        // What the module's control-plane member is at start (the role loop reports it from then on).
        if (role) log('info', 'role driver', { driver: role.name, controlPlane: await role.observe() });
        await untilSignal(
          () => running.stop(),
          (signal) => log('info', 'stopping', { signal }),
        );
      },
    );

  agent
    .command('secret')
    .description('create the box secret file (64 random hex characters, mode 0600) unless it exists; copy the same file to every module')
    .argument('<path>', 'where to create it, e.g. /etc/edgebox/box-secret')
    .addOption(outputOption())
    .action(async (path: string, opts: { output: OutputFormat }) => {
      const r = await createSecretFile(path);
      emit(r, opts.output, (x) => (x.created ? `created ${x.path} (mode 0600)\n` : `${x.path} exists; left as it is\n`));
    });

  agent
    .command('metrics-token')
    .description(
      "print the bearer token Prometheus presents to the agents' /metrics (derived from the box secret; the chart's ServiceMonitor reads it from the Secret edgebox-agent-metrics, key token)",
    )
    .argument('<secret-file>', 'the box secret file, e.g. /etc/edgebox/box-secret')
    .action(async (path: string) => {
      process.stdout.write(`${metricsToken((await readSecret(path)).key)}\n`);
    });
}

const ROLE_DRIVERS = ['k3s', 'process'] as const satisfies readonly RoleDriverName[];

/** The role driver, loaded only when asked for (the agent's memory budget). */
function withFallbacks(target: ApiTarget, list: string | undefined): ApiTarget {
  const servers = (list ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = servers.find((s) => !/^https:\/\/[^/\s]+/.test(s));
  if (bad !== undefined)
    throw inputError(
      'agent.bad-api-servers',
      `--api-servers has '${bad}', which is not an https URL`,
      'pass https://<address>:<port> URLs separated by commas, e.g. https://192.168.8.11:6443,https://192.168.8.12:6443',
    );
  return servers.length > 0 ? { ...target, fallbackServers: servers } : target;
}

async function roleDriver(name: RoleDriverName, o: { cfg: AgentConfig; spec: string; log: Log; api?: ApiTarget; localDir?: string }): Promise<RoleDriver> {
  switch (name) {
    case 'k3s': {
      const [{ createK3sDriver }, { ApiClient }] = await Promise.all([import('../../agent/role/k3s-driver.js'), import('../../agent/api/client.js')]);
      // A local box's module: its host is played by the box (src/local/engine/k3s-host.ts).
      const local = o.localDir ? await (await import('../../local/engine/k3s-host.js')).localK3sModule(resolve(o.localDir), o.cfg.module) : undefined;
      return createK3sDriver({
        module: o.cfg.module,
        modules: local?.modules ?? [{ name: o.cfg.module, address: o.cfg.address }, ...o.cfg.peers],
        ...(local ? { runner: local.runner, etcd: local.etcd } : {}),
        loadBox: async () => (await (await import('../../spec/load.js')).loadSpec(o.spec)).box,
        ...(o.api ? { api: new ApiClient(o.api) } : {}),
      });
    }
    case 'process': {
      const { createProcessDriver } = await import('../../local/process-driver.js');
      return createProcessDriver({ dir: resolve(o.localDir!), module: o.cfg.module, log: o.log });
    }
  }
}

/** The self-fence runtime driver, loaded only when asked for (the agent's memory budget). */
async function runtimeDriver(name: RuntimeDriverName, o: { module: string; file?: string; socket?: string; api?: ApiTarget }) {
  switch (name) {
    case 'k3s': {
      const [{ k3sRuntime }, { hostRunner }] = await Promise.all([
        import('../../agent/self-fence/k3s-runtime.js'),
        import('../../agent/role/command-runner.js'),
      ]);
      return k3sRuntime(hostRunner());
    }
    case 'local': {
      const { localRuntime, apiSingletonLister } = await import('../../agent/self-fence/local-runtime.js');
      return localRuntime({ file: o.file!, module: o.module, listPods: o.api ? apiSingletonLister(o.api, o.module, o.socket) : async () => [] });
    }
    case 'none':
      return noRuntime();
  }
}

interface RunFlags {
  spec: string;
  module: string;
  address?: string;
  port?: number;
  httpPort?: number;
  metricsPort?: number;
  addressMap?: string;
}

/** The flags `agent config` and `agent run` share: what decides the agent's configuration. */
function agentFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--spec <file>', 'box spec file (YAML)')
    .requiredOption('--module <name>', 'the module this agent runs on')
    .option('--address <ip>', "address to bind the heartbeat socket to (default: the module's address)")
    .option('--port <udp>', 'UDP port of every agent of the box (default: spec.failover.port)', intOption('--port', 1))
    .option(
      '--http-port <n>',
      `TCP port of /healthz, /peers and /metrics; 0 = any free one, printed in the start-up log (default: ${DEFAULT_HTTP_PORT})`,
      intOption('--http-port', 0),
    )
    .option(
      '--metrics-port <n>',
      `TCP port of /metrics on the module address, for Prometheus, behind the box's scrape token (\`agent metrics-token\`); 0 = any free one (default: ${DEFAULT_METRICS_PORT})`,
      intOption('--metrics-port', 0),
    )
    .option(
      '--address-map <json-or-file>',
      'module -> address, overriding the spec\'s addresses, as JSON or a JSON file (a local box: {"m1": "127.0.1.1", ...})',
    );
}

async function resolveFromSpec(opts: RunFlags): Promise<AgentConfig> {
  const { loadSpec } = await import('../../spec/load.js');
  const { box } = await loadSpec(opts.spec);
  return resolveAgentConfig(box, {
    module: opts.module,
    ...(opts.address !== undefined ? { address: opts.address } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.httpPort !== undefined ? { httpPort: opts.httpPort } : {}),
    ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
    ...(opts.addressMap !== undefined ? { addressMap: await readAddressMap(opts.addressMap) } : {}),
  });
}

/**
 * The script this process was started with (bin/edgebox.js): the config child runs the same CLI
 * however the agent was started, and whether the CLI is bundled (dist/bundle) or not.
 */
const CLI = process.argv[1]!;

/** What `agent config --api-target-of` gives `agent run`. */
interface Resolved {
  config: AgentConfig;
  api?: ApiTargetJson;
}

/**
 * The agent is a daemon on every module with a 60 MB budget, and validating the spec loads the
 * schema library (about 14 MB that would stay resident for good), reading a kubeconfig the YAML
 * library (about 7 MB). So `agent run` has a short-lived `agent config` process, with the same
 * flags, validate and resolve its configuration and read its kubeconfig; its diagnostics reach the
 * user unchanged, and its exit code becomes the agent's.
 */
function resolveInChild(opts: RunFlags, kubeconfig: string | undefined, context: string | undefined): Resolved {
  const flags = [
    '--spec',
    opts.spec,
    '--module',
    opts.module,
    ...(opts.address !== undefined ? ['--address', opts.address] : []),
    ...(opts.port !== undefined ? ['--port', String(opts.port)] : []),
    ...(opts.httpPort !== undefined ? ['--http-port', String(opts.httpPort)] : []),
    ...(opts.metricsPort !== undefined ? ['--metrics-port', String(opts.metricsPort)] : []),
    ...(opts.addressMap !== undefined ? ['--address-map', opts.addressMap] : []),
  ];
  const child = spawnSync(
    process.execPath,
    [
      CLI,
      'agent',
      'config',
      ...flags,
      '-o',
      'json',
      ...(kubeconfig !== undefined ? ['--api-target-of', kubeconfig] : []),
      ...(kubeconfig !== undefined && context !== undefined ? ['--api-context', context] : []),
    ],
    // Its -o json is for the data on stdout; its errors reach the user in the format the user asked for.
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, [ERROR_FORMAT_ENV]: requestedFormat(process.argv, process.env) === 'json' ? 'json' : 'text' },
    },
  );
  if (child.status !== 0) throw new EdgeboxError(child.status === 2 ? 'input' : 'failure', []);
  return kubeconfig !== undefined ? (JSON.parse(child.stdout) as Resolved) : { config: JSON.parse(child.stdout) as AgentConfig };
}

/** Parses an integer flag of at least `min` and at most 65535, as bad input otherwise. */
function intOption(flag: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > 65_535)
      throw inputError('agent.bad-port', `${flag} '${value}' is not a port number`, `pass an integer from ${min} to 65535`);
    return n;
  };
}

function formatDiscovery(d: Discovery): string {
  const hw = d.hardware ? `${d.hardware} (${findHardware(d.hardware)?.name ?? ''})` : 'none (see notes)';
  const a = d.resources.accelerator;
  const extended = Object.entries(d.resources.extended)
    .map(([r, n]) => `${r}=${n}`)
    .join(', ');
  const facts: [string, string][] = [
    ['hardware', hw],
    ['model', d.board.model ?? '-'],
    ['compatible', d.board.compatible.join(', ') || '-'],
    ['arch', d.board.arch ?? '-'],
    ...(d.board.l4t ? [['jetson linux', d.board.l4t] as [string, string]] : []),
    ['cpus', d.resources.cpus === null ? '-' : String(d.resources.cpus)],
    ['memory', d.resources.memoryBytes === null ? '-' : formatBytes(d.resources.memoryBytes)],
    ['accelerator', a ? `${a.name} (${a.kind}, ${a.resource}: ${a.count})` : '-'],
    ['resources', extended || '-'],
  ];
  const width = Math.max(...facts.map(([k]) => k.length)) + 2;
  const head = facts.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n');
  const caps = d.capabilities.length
    ? table(
        ['CAPABILITY', 'EVIDENCE'],
        d.capabilities.map((c) => [c, (d.evidence[c] ?? []).join(', ')]),
      )
    : 'no capabilities found\n';
  const notes = d.notes.length ? `\nnotes:\n${d.notes.map((n) => `  - ${n.message}\n`).join('')}` : '';
  return `${head}\n\n${caps}${notes}`;
}

function formatPublish(r: PublishReport): string {
  const changes = r.changes.length ? r.changes.map((c) => `  ${c}\n`).join('') : '  (node already up to date)\n';
  const findings = r.findings.length
    ? r.findings.map((f) => `  ${f.severity} ${f.code}: ${f.message}\n    hint: ${f.hint}\n`).join('')
    : '  none: the module is what the spec says\n';
  const events = r.events.length ? `events: ${r.events.join(', ')}\n` : '';
  return `node ${r.node} (module ${r.module}):\n${changes}findings:\n${findings}${events}`;
}
