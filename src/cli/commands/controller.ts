import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { jsonLog } from '../../base/log.js';
import { logUnhandledRejections } from '../../base/unhandled.js';
import { kubeconfigFlags, loadKubeConfig } from '../../kube/kubeconfig.js';
import { contextOption } from '../output.js';
import { startController } from '../../controller/controller.js';
import { powerDrivers } from '../../power/drivers.js';
import { inputError } from '../../diagnostics/diagnostic.js';
import { SPEC_ENV } from '../../render/controller.js';
import { loadSpec, parseSpec, type LoadedSpec } from '../../spec/load.js';
import { untilSignal } from '../until-signal.js';
import { CONTROLLER_METRICS_PORT } from '../../contract/metrics.js';

/** Where /metrics listens unless --metrics-port says otherwise. */
export const DEFAULT_METRICS_PORT = CONTROLLER_METRICS_PORT;

interface ControllerFlags {
  spec?: string;
  kubeconfig?: string;
  context?: string;
  id?: string;
  metricsPort: number;
  metricsAddress: string;
  localDir?: string;
}

export function registerController(program: Command): void {
  program
    .command('controller')
    .description(
      "self-healing: watch the agents' views, fence a module a quorum declares dead, release its pods, let it rejoin; leader-elected, runs until SIGTERM or SIGINT",
    )
    .option('--spec <file>', `box spec file (YAML); default: the spec itself in the ${SPEC_ENV} environment variable (how the rendered Deployment passes it)`)
    .option('--kubeconfig <path>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config, else the in-cluster service account)')
    .addOption(contextOption())
    .option('--id <identity>', 'leader-election identity, unique per replica (default: POD_NAME, else <hostname>-<pid>)')
    .option('--metrics-port <n>', 'TCP port of /metrics and /healthz; 0 = any free one', portOption, DEFAULT_METRICS_PORT)
    .option('--metrics-address <ip>', 'address /metrics listens on (in a pod: 0.0.0.0, so Prometheus can scrape it)', '127.0.0.1')
    .option('--local-dir <dir>', 'the local box directory, for modules whose power driver is `local`')
    .action(async (flags: ControllerFlags) => {
      const { box } = await spec(flags.spec);
      const id = flags.id ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
      const log = jsonLog({ component: 'edgebox-controller', id });
      logUnhandledRejections(log, 'controller');
      const user = process.env.EDGEBOX_BMC_USERNAME;
      const password = process.env.EDGEBOX_BMC_PASSWORD;
      const specs = box.spec.modules.flatMap((m) => (m.power ? [m.power] : []));
      const drivers = await powerDrivers(specs, {
        ...(flags.localDir ? { localDir: resolve(flags.localDir) } : {}),
        ...(user !== undefined && password !== undefined ? { bmc: { username: user, password } } : {}),
      });
      // Made at start, so that a missing setting is reported before anything fails.
      const local = box.spec.modules.find((m) => m.power?.driver === 'local');
      if (local && !flags.localDir) {
        throw inputError(
          'controller.local-driver-without-box',
          `module ${local.name} uses the local power driver, which stops a local box's processes`,
          'pass --local-dir <box dir> (what `edgebox local up` runs the controller with)',
        );
      }
      const running = await startController({
        kc: kubeConfig(flags),
        box,
        id,
        log,
        ...(drivers ? { drivers } : {}),
        metrics: { host: flags.metricsAddress, port: flags.metricsPort },
      });
      await untilSignal(
        () => running.stop(),
        (signal) => log('info', 'stopping', { signal }),
      );
    });
}

async function spec(file: string | undefined): Promise<LoadedSpec> {
  if (file !== undefined) return loadSpec(file);
  const text = process.env[SPEC_ENV];
  if (!text) throw inputError('controller.no-spec', `no --spec given and ${SPEC_ENV} is not set`, 'pass --spec <box.yaml>');
  return parseSpec(text, `$${SPEC_ENV}`);
}

/** --kubeconfig, else KUBECONFIG or ~/.kube/config, else (in a pod) the service account. */
function kubeConfig(flags: { kubeconfig?: string; context?: string }): KubeConfig {
  if (!flags.kubeconfig && !flags.context && !process.env.KUBECONFIG && process.env.KUBERNETES_SERVICE_HOST) {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return kc;
  }
  return loadKubeConfig(kubeconfigFlags(flags));
}

function portOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw inputError('controller.bad-port', `--metrics-port '${value}' is not a port number`, 'pass an integer from 0 to 65535');
  return n;
}
