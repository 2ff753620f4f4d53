import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  StorageV1Api,
  setHeaderOptions,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Node,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1VolumeAttachment,
} from '@kubernetes/client-node';
import type { Log } from '../base/log.js';
import { apiStatus } from '../kube/client.js';
import { ResilientInformer } from '../kube/resilient-informer.js';
import { KWOK_SELECTOR } from './simulated-nodes.js';
import {
  SIM_DRIVER,
  SIM_STORAGE_CLASS,
  VOLUMES_ATTACHED,
  VOLUMES_ATTACHED_ANNOTATION,
  planStorage,
  type ObservedStorage,
  type StorageAction,
} from './storage-plan.js';

/**
 * The shell of the simulated storage (storage-plan.ts decides): informers on claims, volumes,
 * VolumeAttachments, pods and nodes; after each change, plan and apply. Runs as a component of
 * the local box (storage-process.ts).
 */
export async function runSimulatedStorage(kubeconfig: string, log: Log, signal: AbortSignal): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const storage = kc.makeApiClient(StorageV1Api);
  await ensureDriver(storage, log);

  let pending: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  const pass = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      if (informers.every((i) => i.synced)) for (const a of planStorage(observe())) await act(a);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  // Changes come in bursts (a StatefulSet pod, its claim, its attachment): one pass per burst.
  const schedule = (): void => {
    clearTimeout(pending);
    pending = setTimeout(() => void pass().catch((e: unknown) => log('warn', 'storage pass failed', { error: String(e) })), 20);
  };
  const informer = <T extends KubernetesObject>(name: string, path: string, list: () => Promise<KubernetesListObject<T>>) =>
    new ResilientInformer<T>({ kc, name, path, list, log, onChange: schedule });
  const claims = informer<V1PersistentVolumeClaim>('claims', '/api/v1/persistentvolumeclaims', () => core.listPersistentVolumeClaimForAllNamespaces());
  const volumes = informer<V1PersistentVolume>('volumes', '/api/v1/persistentvolumes', () => core.listPersistentVolume());
  const attachments = informer<V1VolumeAttachment>('attachments', '/apis/storage.k8s.io/v1/volumeattachments', () => storage.listVolumeAttachment());
  const pods = informer<V1Pod>('pods', '/api/v1/pods', () => core.listPodForAllNamespaces());
  const nodes = informer<V1Node>('nodes', '/api/v1/nodes', () => core.listNode());
  const informers = [claims, volumes, attachments, pods, nodes] as ResilientInformer<KubernetesObject>[];

  const observe = (): ObservedStorage => ({
    claims: claims.list().map((c) => ({
      namespace: c.metadata?.namespace ?? '',
      name: c.metadata?.name ?? '',
      uid: c.metadata?.uid ?? '',
      ...(c.spec?.storageClassName ? { storageClassName: c.spec.storageClassName } : {}),
      ...(c.spec?.volumeName ? { volumeName: c.spec.volumeName } : {}),
      size: String(c.spec?.resources?.requests?.storage ?? '1Gi'),
      accessModes: c.spec?.accessModes ?? ['ReadWriteOnce'],
    })),
    volumes: volumes.list().map((v) => ({
      name: v.metadata?.name ?? '',
      ...(v.spec?.csi ? { driver: v.spec.csi.driver, volumeHandle: v.spec.csi.volumeHandle } : {}),
      ...(v.status?.phase ? { phase: v.status.phase } : {}),
      reclaimDelete: v.spec?.persistentVolumeReclaimPolicy === 'Delete',
    })),
    attachments: attachments.list().map((a) => ({
      name: a.metadata?.name ?? '',
      attacher: a.spec.attacher,
      node: a.spec.nodeName,
      ...(a.spec.source.persistentVolumeName ? { volume: a.spec.source.persistentVolumeName } : {}),
      attached: a.status?.attached === true,
      deleting: Boolean(a.metadata?.deletionTimestamp),
    })),
    pods: pods.list().map((p) => ({
      namespace: p.metadata?.namespace ?? '',
      name: p.metadata?.name ?? '',
      ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
      claims: (p.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : [])),
      annotated: p.metadata?.annotations?.[VOLUMES_ATTACHED_ANNOTATION] === VOLUMES_ATTACHED,
      gone: Boolean(p.metadata?.deletionTimestamp) || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed',
    })),
    nodes: nodes.list().map((n) => ({
      name: n.metadata?.name ?? '',
      live: n.metadata?.labels?.[KWOK_SELECTOR.key] === KWOK_SELECTOR.value,
      volumesInUse: n.status?.volumesInUse ?? [],
    })),
  });

  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const act = async (a: StorageAction): Promise<void> => {
    try {
      switch (a.type) {
        case 'provision':
          await core.createPersistentVolume({
            body: {
              metadata: { name: a.volume, annotations: { 'pv.kubernetes.io/provisioned-by': SIM_DRIVER } },
              spec: {
                capacity: { storage: a.claim.size },
                accessModes: a.claim.accessModes,
                persistentVolumeReclaimPolicy: 'Delete',
                storageClassName: SIM_STORAGE_CLASS,
                claimRef: { kind: 'PersistentVolumeClaim', namespace: a.claim.namespace, name: a.claim.name, uid: a.claim.uid },
                csi: { driver: SIM_DRIVER, volumeHandle: a.claim.uid },
              },
            },
          });
          break;
        case 'delete-volume':
          await core.deletePersistentVolume({ name: a.volume });
          break;
        case 'attach':
          await storage.patchVolumeAttachmentStatus({ name: a.attachment, body: { status: { attached: true } } }, merge);
          break;
        case 'mark-pod':
          await core.patchNamespacedPod(
            { namespace: a.namespace, name: a.name, body: { metadata: { annotations: { [VOLUMES_ATTACHED_ANNOTATION]: VOLUMES_ATTACHED } } } },
            merge,
          );
          break;
        case 'volumes-in-use':
          await core.patchNodeStatus({ name: a.node, body: { status: { volumesInUse: a.volumes } } }, merge);
          break;
      }
      log('info', `storage: ${a.type}`, { ...a });
    } catch (e) {
      // Another pass already did it, or the object went away meanwhile: the next pass sees why.
      if (apiStatus(e) !== 404 && apiStatus(e) !== 409) log('warn', `storage: ${a.type} failed`, { error: String(e) });
    }
  };

  for (const i of informers) i.start();
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearTimeout(pending);
  await Promise.all(informers.map((i) => i.stop()));
}

/** The CSIDriver (attach required: the attach-detach controller makes VolumeAttachments) and the default StorageClass. */
async function ensureDriver(storage: StorageV1Api, log: Log): Promise<void> {
  const exists = (e: unknown) => {
    if (apiStatus(e) !== 409) throw e;
  };
  await storage
    .createCSIDriver({ body: { metadata: { name: SIM_DRIVER }, spec: { attachRequired: true, podInfoOnMount: false, volumeLifecycleModes: ['Persistent'] } } })
    .catch(exists);
  await storage
    .createStorageClass({
      body: {
        metadata: { name: SIM_STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
        provisioner: SIM_DRIVER,
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'Immediate',
      },
    })
    .catch(exists);
  log('info', `storage: CSIDriver ${SIM_DRIVER} and default StorageClass ${SIM_STORAGE_CLASS} in place`);
}
