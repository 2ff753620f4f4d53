import type { Plan } from '../plan/model.js';
import type { BoxSpec } from '../spec/schema.js';
import { statusLeader } from './edgebox-status.js';
import { moduleViews } from './modules-view.js';
import type { ClusterSnapshot } from './snapshot.js';
import { timeline } from './timeline.js';
import type { ClusterState, DashboardView, WatchRecord } from './view.js';
import { workloadViews } from './workloads-view.js';

export interface ViewInput {
  box: BoxSpec;
  plan: Plan;
  /** Undefined when no cluster is connected: the views then show the spec and the plan. */
  cluster?: ClusterSnapshot;
  clusterState: ClusterState;
  local: boolean;
  killed: readonly string[];
  causes: readonly WatchRecord[];
  now: number;
}

/** Everything the web app shows, from the spec, its plan and what the watches hold. Pure. */
export function buildView(input: ViewInput): DashboardView {
  const { box, plan, cluster } = input;
  const events = cluster ? timeline(box, cluster) : [];
  const leader = statusLeader(cluster?.edgeBox?.status);
  return {
    box: box.metadata.name,
    at: new Date(input.now).toISOString(),
    cluster: input.clusterState,
    local: input.local,
    controlPlane: { ...plan.controlPlane, ...(leader ? { leader } : {}) },
    modules: moduleViews({ box, plan, ...(cluster ? { cluster } : {}), killed: input.killed, now: input.now }),
    workloads: workloadViews({ box, plan, ...(cluster ? { cluster } : {}), timeline: events }),
    timeline: events,
    causes: [...input.causes],
  };
}
