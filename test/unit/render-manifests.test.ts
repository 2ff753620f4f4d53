import { dumpYaml, loadYaml } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderManifests, type KubeObject } from '../../src/render/manifests.js';
import { TUNED } from '../../src/render/tuning.js';
import { ACCELERATOR_TAINT, LABELS } from '../../src/contract/labels.js';
import { CRITICALITIES } from '../../src/spec/schema.js';
import { canonical, EXAMPLES, example, labBox } from './render-fixtures.js';

/* Loose views of the rendered objects, for reading fields in assertions. */
interface PodSpecView {
  priorityClassName?: string;
  runtimeClassName?: string;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchExpressions: { key: string; operator: string; values: string[] }[] }[] };
    };
  };
  tolerations?: { key?: string; operator: string; effect?: string; tolerationSeconds?: number }[];
  topologySpreadConstraints?: { maxSkew: number; topologyKey: string; whenUnsatisfiable: string; labelSelector: { matchLabels: Record<string, string> } }[];
  containers: { name: string; image: string; resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }[];
}
interface SpecView {
  replicas?: number;
  serviceName?: string;
  podManagementPolicy?: string;
  clusterIP?: string;
  maxUnavailable?: number;
  selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
  strategy?: { type: string; rollingUpdate?: { maxSurge: number; maxUnavailable: number } };
  template?: { metadata: { labels: Record<string, string> }; spec: PodSpecView };
}

const box = labBox();
const objects = renderManifests(box);
const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'];

function find(kind: string, name: string): KubeObject & { spec: SpecView } {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} rendered`);
  return o as KubeObject & { spec: SpecView };
}
function workload(name: string) {
  const o = objects.find((x) => WORKLOAD_KINDS.includes(x.kind) && x.metadata.name === name);
  if (!o) throw new Error(`no workload ${name} rendered`);
  return o as KubeObject & { spec: SpecView };
}
const pod = (name: string): PodSpecView => workload(name).spec.template!.spec;

describe('renderManifests', () => {
  it('renders the Namespace, the PriorityClasses, the RuntimeClass of CUDA workloads, then each workload in spec order', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/lab',
      'PriorityClass/edgebox-critical',
      'PriorityClass/edgebox-standard',
      'PriorityClass/edgebox-best-effort',
      'RuntimeClass/nvidia',
      'Deployment/crit',
      'Deployment/std',
      'PodDisruptionBudget/std',
      'Deployment/be',
      'Deployment/single',
      'Service/sts',
      'StatefulSet/sts',
      'PodDisruptionBudget/sts',
      'Service/sts-single',
      'StatefulSet/sts-single',
      'DaemonSet/ds',
      'Deployment/vision',
      'Deployment/idle',
    ]);
  });

  it('runs CUDA workloads with the nvidia RuntimeClass, which it renders for CUDA modules only', () => {
    expect(pod('vision').runtimeClassName).toBe('nvidia');
    expect(pod('crit').runtimeClassName).toBeUndefined();
    expect(objects.find((o) => o.kind === 'RuntimeClass')).toMatchObject({
      apiVersion: 'node.k8s.io/v1',
      metadata: { name: 'nvidia' },
      handler: 'nvidia',
      scheduling: { nodeSelector: { 'edgebox.dev/cap.gpu.cuda': 'true' } },
    });
    const noCuda = renderManifests({ ...box, spec: { ...box.spec, workloads: box.spec.workloads.filter((w) => w.name !== 'vision') } });
    expect(noCuda.some((o) => o.kind === 'RuntimeClass')).toBe(false);
  });

  it('labels every object with the manager and the box, and workload objects with workload and criticality', () => {
    for (const o of objects) {
      expect(o.metadata.labels?.[LABELS.managedBy], `${o.kind}/${o.metadata.name}`).toBe('edgebox');
      expect(o.metadata.labels?.[LABELS.box]).toBe('lab');
      const clusterScoped = ['Namespace', 'PriorityClass', 'RuntimeClass'].includes(o.kind);
      expect(o.metadata.namespace).toBe(clusterScoped ? undefined : 'lab');
      if (!clusterScoped) {
        const w = box.spec.workloads.find((x) => x.name === o.metadata.name);
        expect(o.metadata.labels?.[LABELS.workload]).toBe(w?.name);
        expect(o.metadata.labels?.[LABELS.criticality]).toBe(w?.criticality);
      }
    }
  });

  it('selects its own pods: selectors match the pod template labels, and only the workload', () => {
    for (const w of box.spec.workloads) {
      const o = workload(w.name);
      const podLabels = o.spec.template!.metadata.labels;
      const selector = o.spec.selector!.matchLabels!;
      expect(selector).toEqual({ [LABELS.box]: 'lab', [LABELS.workload]: w.name });
      expect(podLabels).toMatchObject(selector);
      expect(podLabels[LABELS.criticality]).toBe(w.criticality);
    }
    for (const o of objects.filter((x) => x.kind === 'PodDisruptionBudget' || x.kind === 'Service')) {
      const spec = (o as unknown as { spec: SpecView }).spec;
      const selector = o.kind === 'Service' ? spec.selector : spec.selector?.matchLabels;
      expect(workload(o.metadata.name).spec.template!.metadata.labels).toMatchObject(selector ?? { missing: 'selector' });
    }
  });

  it.each(CRITICALITIES)("a %s pod leaves a NotReady or unreachable module after its criticality's tolerationSeconds", (c) => {
    const name = { critical: 'crit', standard: 'std', 'best-effort': 'be' }[c];
    const failover = pod(name).tolerations!.filter((t) => t.effect === 'NoExecute');
    expect(failover).toEqual([
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: TUNED.tolerationSeconds[c] },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: TUNED.tolerationSeconds[c] },
    ]);
    expect(pod(name).priorityClassName).toBe(`edgebox-${c}`);
  });

  it('orders the failover delays by criticality, all far below the 300 s default', () => {
    const s = TUNED.tolerationSeconds;
    expect(s.critical).toBeLessThan(s.standard);
    expect(s.standard).toBeLessThan(s['best-effort']);
    expect(s['best-effort']).toBeLessThan(300);
  });

  it('gives DaemonSet pods no failover tolerations (their controller makes them unbounded) but lets them onto accelerator modules', () => {
    expect(pod('ds').tolerations).toEqual([{ key: ACCELERATOR_TAINT, operator: 'Exists', effect: 'NoSchedule' }]);
  });

  it('tolerates the accelerator taint only for workloads that ask for an accelerator', () => {
    expect(pod('vision').tolerations?.some((t) => t.key === ACCELERATOR_TAINT)).toBe(true);
    expect(pod('crit').tolerations?.some((t) => t.key === ACCELERATOR_TAINT)).toBe(false);
  });

  it.each([
    ['crit', [[LABELS.box, 'lab']]],
    [
      'single',
      [
        [LABELS.box, 'lab'],
        ['edgebox.dev/cap.can', 'true'],
        ['edgebox.dev/peripheral.bus', 'true'],
      ],
    ],
    // A capability listed twice is required once.
    [
      'vision',
      [
        [LABELS.box, 'lab'],
        ['edgebox.dev/cap.gpu.cuda', 'true'],
        ['edgebox.dev/peripheral.cam', 'true'],
      ],
    ],
    ['ds', [[LABELS.box, 'lab']]],
  ])('requires %s on a module of the box with its capabilities and peripherals', (name, expected) => {
    const terms = pod(name).affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    expect(terms).toHaveLength(1);
    expect(terms![0]!.matchExpressions).toEqual(expected.map(([key, value]) => ({ key, operator: 'In', values: [value] })));
  });

  it.each([
    ['single', { type: 'Recreate' }],
    ['crit', { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }],
  ])('gives Deployment %s the update strategy %j', (name, strategy) => {
    expect(workload(name).spec.strategy).toEqual(strategy);
  });

  it('renders StatefulSets with their headless Service before them, in Parallel pod management', () => {
    for (const name of ['sts', 'sts-single']) {
      const sts = find('StatefulSet', name);
      const svc = find('Service', name);
      expect(sts.spec.serviceName).toBe(name);
      expect(svc.spec.clusterIP).toBe('None');
      expect(sts.spec.podManagementPolicy).toBe('Parallel');
      expect(objects.indexOf(svc)).toBeLessThan(objects.indexOf(sts));
    }
  });

  it.each([
    ['crit', 'deployment, 1 replica', false],
    ['std', 'deployment, 3 replicas', true],
    ['single', 'singleton', false],
    ['sts', 'statefulset, 2 replicas', true],
    ['sts-single', 'singleton statefulset', false],
    ['ds', 'daemonset', false],
    ['idle', '0 replicas', false],
  ])('PDB rule: %s (%s) -> %s', (name, _why, expected) => {
    const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === name) as
      { spec: SpecView & { unhealthyPodEvictionPolicy?: string } } | undefined;
    expect(pdb !== undefined).toBe(expected);
    if (pdb) {
      expect(pdb.spec.maxUnavailable).toBe(1);
      expect(pdb.spec).not.toHaveProperty('minAvailable');
      expect(pdb.spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    }
  });

  it.each([
    ['std', true],
    ['sts', true],
    ['crit', false],
    ['ds', false],
  ])('spreads %s over modules softly: %s', (name, spread) => {
    const constraints = pod(name).topologySpreadConstraints;
    if (!spread) return expect(constraints).toBeUndefined();
    expect(constraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: workload(name).spec.selector!.matchLabels },
      },
    ]);
  });

  it.each([
    ['crit', { requests: { cpu: '250m', memory: '128Mi' }, limits: { memory: '128Mi' } }],
    ['std', { requests: { cpu: '1' } }],
    ['single', { requests: { memory: '64Mi' }, limits: { memory: '64Mi' } }],
    ['be', undefined],
  ])('gives %s requests from the spec and a memory limit equal to the memory request', (name, resources) => {
    expect(pod(name).containers).toEqual([{ name, image: box.spec.workloads.find((w) => w.name === name)!.image, ...(resources ? { resources } : {}) }]);
  });

  it('renders replicas as the spec says, and none for DaemonSets', () => {
    expect(workload('std').spec.replicas).toBe(3);
    expect(workload('idle').spec.replicas).toBe(0);
    expect(workload('ds').spec).not.toHaveProperty('replicas');
  });

  it('names only PriorityClasses it renders', () => {
    const classes = new Set(objects.filter((o) => o.kind === 'PriorityClass').map((o) => o.metadata.name));
    for (const w of box.spec.workloads) expect(classes).toContain(pod(w.name).priorityClassName);
    const best = find('PriorityClass', 'edgebox-best-effort') as unknown as { value: number; preemptionPolicy: string };
    const crit = find('PriorityClass', 'edgebox-critical') as unknown as { value: number };
    expect(best.preemptionPolicy).toBe('Never');
    expect(crit.value).toBeGreaterThan(best.value);
    expect(crit.value).toBeLessThan(1_000_000_000); // user classes must stay below the system ones
  });

  it('is deterministic', () => {
    expect(JSON.stringify(renderManifests(labBox()))).toBe(JSON.stringify(objects));
  });

  // The client library's models know every field of each kind: a field they drop on a round
  // trip (a typo such as `tolerationSecond`, a field at the wrong level) is not in the API.
  it.each(EXAMPLES)("%s: every object survives a round trip through @kubernetes/client-node's typed models", (name) => {
    for (const o of [...renderManifests(example(name)), ...objects]) {
      const typed = loadYaml<object>(JSON.stringify(o));
      expect(typed.constructor.name, o.kind).toMatch(/^V1/);
      expect(canonical(parse(dumpYaml(typed))), `${o.kind}/${o.metadata.name}`).toBe(canonical(o));
    }
  });

  it('the round trip check catches a misspelt field', () => {
    const o = structuredClone(workload('crit')) as KubeObject & { spec: { template: { spec: { tolerations: object[] } } } };
    o.spec.template.spec.tolerations.push({ key: 'x', operator: 'Exists', tolerationSecond: 5 });
    expect(canonical(parse(dumpYaml(loadYaml<object>(JSON.stringify(o)))))).not.toBe(canonical(o));
  });
});
