import type { V1Node } from '@kubernetes/client-node';
import { allocatable, MAX_PODS, type ServingRole } from '../catalog/reserve.js';
import { initialServers } from '../plan/control-plane.js';
import { nodeLabels, nodeTaints } from '../render/node-metadata.js';
import { hardwareOf } from '../spec/derive.js';
import { PREFIX } from '../contract/labels.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';

/**
 * The label KWOK selects the nodes it plays by. `local kill` removes it: KWOK's watch (a
 * server-side label selector) drops the node, nobody renews its Lease any more, and the node
 * lifecycle controller finds it dead exactly as it would a powered-off module.
 */
export const KWOK_SELECTOR = { key: `${PREFIX}/local-heartbeat`, value: 'kwok' } as const;

/** The module's own loopback address on the local box, recorded on its node. */
export const LOCAL_ADDRESS_ANNOTATION = `${PREFIX}/local-address`;

/**
 * The catalog has no storage figures; 32 GiB is a typical module's eMMC or SD card. Nothing in
 * edgebox schedules by it: it is there so the node looks like a kubelet's.
 */
const EPHEMERAL_STORAGE = '32Gi';

/** 127.0.1.N, N = the module's 1-based position in the spec (127.0.1.0 is a network address). */
function localAddress(index: number): string {
  if (index < 0 || index > 253) throw new Error(`module index ${index} has no 127.0.1.N address`);
  return `127.0.1.${index + 1}`;
}

/** Each module's loopback address, by module name: what agents send heartbeats to instead of the spec's addresses. */
export function localAddresses(box: BoxSpec): Record<string, string> {
  return Object.fromEntries(box.spec.modules.map((m, i) => [m.name, localAddress(i)]));
}

function roleOf(box: BoxSpec, m: ModuleSpec): ServingRole {
  return initialServers(box).some((s) => s.name === m.name) ? 'server' : 'agent';
}

/**
 * The Node a module is on the local box: the labels, taints and resources render gives the real
 * one, plus what a kubelet would add (arch, os, hostname) and what KWOK needs. Nodes may carry
 * their status on create (the kubelet registers that way), and KWOK's node-initialize stage keeps
 * the capacity, addresses and architecture given here.
 */
function simulatedNode(box: BoxSpec, m: ModuleSpec, index: number): V1Node {
  const hw = hardwareOf(m);
  const free = allocatable(hw, roleOf(box, m));
  const address = localAddress(index);
  const accelerator = hw.accelerator ? { [hw.accelerator.resource]: String(hw.accelerator.count) } : {};
  const memoryKi = (bytes: number) => `${Math.floor(bytes / 1024)}Ki`;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: m.name,
      labels: {
        ...nodeLabels(box, m),
        'kubernetes.io/arch': hw.arch,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': m.name,
        type: 'kwok',
        [KWOK_SELECTOR.key]: KWOK_SELECTOR.value,
      },
      // As a kubelet with --enable-controller-attach-detach (its default) registers: without it
      // the attach-detach controller leaves the node's volumes to the kubelet (storage-plan.ts).
      annotations: { [LOCAL_ADDRESS_ANNOTATION]: address, 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: { taints: nodeTaints(box, m) },
    status: {
      capacity: {
        cpu: String(hw.cpuCores),
        memory: memoryKi(hw.memoryBytes),
        pods: String(MAX_PODS),
        'ephemeral-storage': EPHEMERAL_STORAGE,
        ...accelerator,
      },
      allocatable: {
        cpu: `${free.cpuMillis}m`,
        memory: memoryKi(free.memoryBytes),
        pods: String(MAX_PODS),
        'ephemeral-storage': EPHEMERAL_STORAGE,
        ...accelerator,
      },
      addresses: [
        { type: 'InternalIP', address },
        { type: 'Hostname', address: m.name },
      ],
      nodeInfo: {
        architecture: hw.arch,
        operatingSystem: 'linux',
        bootID: '',
        containerRuntimeVersion: '',
        kernelVersion: '',
        kubeProxyVersion: '',
        kubeletVersion: '',
        machineID: '',
        osImage: hw.name,
        systemUUID: '',
      },
    },
  };
}

export function simulatedNodes(box: BoxSpec): V1Node[] {
  return box.spec.modules.map((m, i) => simulatedNode(box, m, i));
}
