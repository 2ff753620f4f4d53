import { edgeBoxObject } from '../crd/edgebox-crd.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { nodeLabels, nodeTaints } from '../render/node-metadata.js';
import { renderClusterObjects } from '../render/cluster-objects.js';
import type { BoxSpec } from '../spec/schema.js';
import type { Cluster } from './cluster.js';
import { execute } from './executor.js';
import { observe } from './observe.js';
import { pendingWorkloads, workloadSelectors } from './pending.js';
import { planApply, type Action, type DesiredState } from './plan.js';

export interface ApplyOptions {
  box: BoxSpec;
  cluster: Cluster;
  /** Plan and report only; change nothing. Default: false. */
  dryRun?: boolean;
}

export interface ApplyReport {
  box: string;
  dryRun: boolean;
  actions: Action[];
  /** Modules without a node, workloads the scheduler cannot place. */
  diagnostics: Diagnostic[];
}

export function desiredState(box: BoxSpec): DesiredState {
  return {
    box: box.metadata.name,
    // The EdgeBox object too: the controller, the agents and discovery write their status on it.
    objects: [...renderClusterObjects(box), edgeBoxObject(box)],
    modules: box.spec.modules.map((m) => ({ module: m.name, labels: nodeLabels(box, m), taints: nodeTaints(box, m) })),
  };
}

/** `edgebox apply`: observe, plan, execute (unless dry-run), then report what cannot run yet. */
export async function applyBox({ box, cluster, dryRun = false }: ApplyOptions): Promise<ApplyReport> {
  return applyDesired({ box, desired: desiredState(box), cluster, dryRun });
}

/**
 * applyBox with the desired state given: the failover benchmark applies the box's objects
 * without edgebox's tolerations, to measure what plain Kubernetes does.
 */
export async function applyDesired({ box, desired, cluster, dryRun = false }: ApplyOptions & { desired: DesiredState }): Promise<ApplyReport> {
  const { observed, dryRunResults } = await observe(cluster, desired);
  const actions = planApply({ desired, observed, dryRunResults });
  if (!dryRun) await execute(cluster, actions);
  const pods = await Promise.all(
    workloadSelectors(desired.objects).map(async ({ workload, namespace, selector }) => ({ workload, pods: await cluster.listPods(namespace, selector) })),
  );
  return { box: desired.box, dryRun, actions, diagnostics: [...missingNodes(box, actions), ...pendingWorkloads(pods)] };
}

function missingNodes(box: BoxSpec, actions: readonly Action[]): Diagnostic[] {
  return actions.flatMap((a) => {
    if (a.type !== 'missing-node') return [];
    const index = box.spec.modules.findIndex((m) => m.name === a.module);
    return [
      {
        code: 'apply.module-without-node',
        severity: 'warning' as const,
        message: `module ${a.module} has no node yet: join it with the K3s config from \`edgebox render\``,
        hint: `once its node (named ${a.module}) registers, run \`edgebox apply\` again to label it; its workloads can only use the other modules until then`,
        path: `spec.modules[${index}]`,
      },
    ];
  });
}
