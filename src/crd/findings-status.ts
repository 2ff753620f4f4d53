import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { failure, type Severity } from '../diagnostics/diagnostic.js';
import { GROUP, PLURAL, VERSION } from './edgebox-crd.js';
import { apiStatus } from '../kube/client.js';

/** One entry of `status.findings`. */
export interface EdgeBoxFinding {
  code: string;
  severity: Severity;
  module: string;
  message: string;
  hint?: string;
  /** Who raised it (`discovery`); each source replaces only its own. */
  source: string;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface EdgeBoxStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  findings?: EdgeBoxFinding[];
  [later: string]: unknown;
}

/** The condition each finding source keeps, true while that source has no error or warning. */
export const SOURCE_CONDITIONS: Record<string, string> = { discovery: 'HardwareMatchesSpec' };

const order = (a: EdgeBoxFinding, b: EdgeBoxFinding) =>
  a.module.localeCompare(b.module) || a.source.localeCompare(b.source) || a.code.localeCompare(b.code) || a.message.localeCompare(b.message);
const key = (f: EdgeBoxFinding) => JSON.stringify([f.module, f.source, f.code, f.message]);

export interface StatusChange {
  status: EdgeBoxStatus;
  /** Findings that were not in the status before (each is worth an Event). */
  added: EdgeBoxFinding[];
  /** False when the status already said all this: then nothing is written. */
  changed: boolean;
}

/**
 * The status after one source reported on one module: that source's findings for that module
 * are replaced, everyone else's kept; its condition is recomputed over all modules. Pure.
 */
export function mergeFindings(
  current: EdgeBoxStatus,
  report: { source: string; module: string; findings: EdgeBoxFinding[]; generation?: number; now: Date },
): StatusChange {
  const before = current.findings ?? [];
  const kept = before.filter((f) => !(f.source === report.source && f.module === report.module));
  const findings = [...kept, ...report.findings].sort(order);
  const known = new Set(before.map(key));
  const added = report.findings.filter((f) => !known.has(key(f)));

  const conditions = [...(current.conditions ?? [])];
  const type = SOURCE_CONDITIONS[report.source];
  if (type) {
    const problems = findings.filter((f) => f.source === report.source && f.severity !== 'info');
    const modules = [...new Set(problems.map((f) => f.module))];
    const status = problems.length ? 'False' : 'True';
    const previous = conditions.find((c) => c.type === type);
    const next: Condition = {
      type,
      status,
      ...(report.generation !== undefined ? { observedGeneration: report.generation } : {}),
      // The transition time moves only when the status does (the Kubernetes condition rule).
      lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : report.now.toISOString(),
      reason: problems.length ? 'FindingsPresent' : 'NoFindings',
      message: problems.length ? `${problems.length} finding(s) on ${modules.join(', ')}` : `${report.source} agrees with the spec`,
    };
    const i = conditions.findIndex((c) => c.type === type);
    if (i >= 0) conditions[i] = next;
    else conditions.push(next);
  }
  const status: EdgeBoxStatus = { ...current, conditions, findings };
  const changed = JSON.stringify(before) !== JSON.stringify(findings) || JSON.stringify(current.conditions ?? []) !== JSON.stringify(conditions);
  return { status, added, changed };
}

interface EdgeBoxObject {
  metadata: { name: string; generation?: number; resourceVersion?: string };
  status?: EdgeBoxStatus;
}

/**
 * Records one source's findings for one module in the EdgeBox status, through the status
 * subresource. Read-modify-replace with the object's resourceVersion, so a concurrent writer's
 * findings are never lost: on a conflict it reads again and merges again.
 */
export async function recordFindings(
  kc: KubeConfig,
  boxName: string,
  report: { source: string; module: string; findings: EdgeBoxFinding[]; now?: () => Date },
): Promise<StatusChange> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const ref = { group: GROUP, version: VERSION, plural: PLURAL, name: boxName };
  const attempts = 5;
  for (let attempt = 1; ; attempt++) {
    const box = (await api.getClusterCustomObject(ref)) as EdgeBoxObject;
    const change = mergeFindings(box.status ?? {}, {
      ...report,
      now: (report.now ?? (() => new Date()))(),
      ...(box.metadata.generation !== undefined ? { generation: box.metadata.generation } : {}),
    });
    if (!change.changed) return change;
    try {
      await api.replaceClusterCustomObjectStatus({ ...ref, body: { ...box, status: change.status } });
      return change;
    } catch (e) {
      if (!(apiStatus(e) === 409)) throw e;
      if (attempt === attempts) {
        throw failure(
          'crd.status-conflict',
          `the status of EdgeBox ${boxName} kept changing under edgebox (${attempts} attempts)`,
          'another writer updates it constantly; run the command again',
        );
      }
    }
  }
}
