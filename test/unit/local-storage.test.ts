import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { withVolumeGate } from '../../src/local/kwok-stages.js';
import {
  SIM_DRIVER,
  SIM_STORAGE_CLASS,
  planStorage,
  uniqueVolumeName,
  type ObservedStorage,
  type SimAttachment,
  type SimClaim,
  type SimPod,
} from '../../src/local/storage-plan.js';

const claim: SimClaim = {
  namespace: 'cell',
  name: 'data-recorder-0',
  uid: 'u1',
  storageClassName: SIM_STORAGE_CLASS,
  volumeName: 'pvc-u1',
  size: '1Gi',
  accessModes: ['ReadWriteOnce'],
};
const volume = { name: 'pvc-u1', driver: SIM_DRIVER, volumeHandle: 'u1', phase: 'Bound', reclaimDelete: true };
const inUse = uniqueVolumeName(SIM_DRIVER, 'u1');
const pod = (over: Partial<SimPod> = {}): SimPod => ({
  namespace: 'cell',
  name: 'recorder-0',
  node: 'core-2',
  claims: ['data-recorder-0'],
  annotated: false,
  gone: false,
  ...over,
});
const attachment = (over: Partial<SimAttachment> = {}): SimAttachment => ({
  name: 'csi-1',
  attacher: SIM_DRIVER,
  node: 'core-2',
  volume: 'pvc-u1',
  attached: true,
  deleting: false,
  ...over,
});
const box = (over: Partial<ObservedStorage> = {}): ObservedStorage => ({
  claims: [claim],
  volumes: [volume],
  attachments: [attachment()],
  pods: [pod()],
  nodes: [
    { name: 'core-2', live: true, volumesInUse: [] },
    { name: 'core-3', live: true, volumesInUse: [] },
  ],
  ...over,
});

describe('simulated storage: provisioner and attacher', () => {
  it('provisions a pending claim of its class as pvc-<uid>, once', () => {
    const pending: SimClaim = { ...claim, volumeName: undefined as never };
    delete (pending as { volumeName?: string }).volumeName;
    expect(planStorage(box({ claims: [pending], volumes: [], attachments: [], pods: [] }))).toEqual([{ type: 'provision', claim: pending, volume: 'pvc-u1' }]);
    expect(planStorage(box({ claims: [pending], attachments: [], pods: [] })).filter((a) => a.type === 'provision')).toEqual([]);
  });

  it('leaves claims of other classes to their own provisioner', () => {
    const other: SimClaim = { ...claim, storageClassName: 'nfs' };
    delete (other as { volumeName?: string }).volumeName;
    expect(planStorage(box({ claims: [other], volumes: [], attachments: [], pods: [] }))).toEqual([]);
  });

  it('attaches to a live node only: a dead module cannot be attached to', () => {
    expect(planStorage(box({ attachments: [attachment({ attached: false })], pods: [] }))).toEqual([{ type: 'attach', attachment: 'csi-1' }]);
    const dead = box({ attachments: [attachment({ attached: false })], pods: [], nodes: [{ name: 'core-2', live: false, volumesInUse: [] }] });
    expect(planStorage(dead)).toEqual([]);
    expect(planStorage(box({ attachments: [attachment({ attached: false, deleting: true })], pods: [] }))).toEqual([]);
    expect(planStorage(box({ attachments: [attachment({ attached: false, attacher: 'other.csi' })], pods: [] }))).toEqual([]);
  });

  it('deletes a released volume of its own', () => {
    expect(planStorage(box({ volumes: [{ ...volume, phase: 'Released' }], claims: [], attachments: [], pods: [] }))).toEqual([
      { type: 'delete-volume', volume: 'pvc-u1' },
    ]);
  });
});

describe("simulated storage: the kubelet's side", () => {
  it('marks a pod once its volume is attached to its node, and reports the volume in use there', () => {
    expect(planStorage(box())).toEqual([
      { type: 'mark-pod', namespace: 'cell', name: 'recorder-0' },
      { type: 'volumes-in-use', node: 'core-2', volumes: [inUse] },
    ]);
  });

  it('does not mark a pod whose volume is attached elsewhere (the old module still holds it)', () => {
    expect(planStorage(box({ pods: [pod({ node: 'core-3' })] }))).toEqual([]);
  });

  it("a dead module's node keeps its last volumesInUse: only fencing lets the volume go", () => {
    const dead = box({ pods: [pod({ gone: true })], nodes: [{ name: 'core-2', live: false, volumesInUse: [inUse] }] });
    expect(planStorage(dead)).toEqual([]);
  });

  it('a live node clears the volume once its pod is gone', () => {
    const live = box({ pods: [pod({ gone: true, annotated: true })], nodes: [{ name: 'core-2', live: true, volumesInUse: [inUse] }] });
    expect(planStorage(live)).toEqual([{ type: 'volumes-in-use', node: 'core-2', volumes: [] }]);
  });

  it('nothing to do when converged', () => {
    expect(planStorage(box({ pods: [pod({ annotated: true })], nodes: [{ name: 'core-2', live: true, volumesInUse: [inUse] }] }))).toEqual([]);
  });
});

describe('KWOK volume gate', () => {
  const stages = [
    'apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-create\nspec:\n  next:\n    x: 1',
    "# from kwok\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-ready\nspec:\n  selector:\n    matchExpressions:\n    - key: '.status.phase'\n      operator: 'In'\n      values:\n      - 'Pending'\n  next:\n    statusTemplate: y",
  ].join('\n---\n');

  it('pods without claims keep KWOK’s pod-ready; pods with claims wait for the attached mark', () => {
    const docs = parseAllDocuments(withVolumeGate(stages)).map(
      (d) =>
        d.toJS() as {
          metadata: { name: string };
          spec: { selector: { matchExpressions: { key: string; operator: string }[]; matchAnnotations?: Record<string, string> } };
        },
    );
    expect(docs.map((d) => d.metadata.name)).toEqual(['pod-create', 'pod-ready', 'edgebox-pod-ready-with-volumes']);
    const [, plain, gated] = docs;
    expect(plain!.spec.selector.matchExpressions[0]).toEqual({
      key: '.spec.volumes.[] | select( .persistentVolumeClaim != null ) | .name',
      operator: 'DoesNotExist',
    });
    expect(plain!.spec.selector.matchAnnotations).toBeUndefined();
    expect(gated!.spec.selector.matchExpressions[0]!.operator).toBe('Exists');
    expect(gated!.spec.selector.matchExpressions[1]).toEqual({ key: '.status.phase', operator: 'In', values: ['Pending'] });
    expect(gated!.spec.selector.matchAnnotations).toEqual({ 'edgebox.dev/local-volumes': 'attached' });
  });

  it('refuses stages it cannot gate', () => {
    expect(() => withVolumeGate(stages.replace('name: pod-ready', 'name: pod-running'))).toThrow(/pod-ready/);
  });
});
