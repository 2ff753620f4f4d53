import type { Cluster } from './cluster.js';
import type { Action } from './plan.js';

/**
 * Carries out a plan, in its order. No decisions: everything was settled by planApply, and an
 * action that fails stops the run with its diagnostic (apply is safe to run again).
 */
export async function execute(cluster: Cluster, actions: readonly Action[]): Promise<void> {
  for (const a of actions) {
    switch (a.type) {
      case 'label-node':
        await cluster.applyNodeLabels(a.ref.name, a.labels);
        if (a.taints) await cluster.replaceNodeTaints(a.ref.name, a.taints.current, a.taints.next);
        break;
      case 'create':
      case 'update':
        await cluster.apply(a.desired, { dryRun: false, force: a.force });
        break;
      case 'prune':
        await cluster.delete(a.ref);
        break;
      case 'unchanged':
      case 'missing-node':
        break;
    }
  }
}
