import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocatable, MAX_PODS } from '../../src/catalog/reserve.js';
import { initialServers } from '../../src/plan/control-plane.js';
import { nodeLabels, nodeTaints } from '../../src/render/node-metadata.js';
import { hardwareOf } from '../../src/spec/derive.js';
import { capabilityLabel } from '../../src/contract/labels.js';
import { loadSpec } from '../../src/spec/load.js';
import { parseQuantity } from '../../src/spec/quantity.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { up } from '../../src/local/up.js';
import { eventually, startBox, type Box } from './harness.js';

const SPEC = 'examples/article-box.yaml';

describe('edgebox local up: one real node per module', () => {
  let box: Box;
  let spec: BoxSpec;
  let core: CoreV1Api;

  beforeAll(async () => {
    spec = (await loadSpec(SPEC)).box;
    box = await startBox(SPEC);
    core = box.kc.makeApiClient(CoreV1Api);
  });
  afterAll(() => box?.stop());

  const node = (name: string): Promise<V1Node> => core.readNode({ name });

  it('creates one Ready node per module with the labels render gives plus what a kubelet adds', async () => {
    const names = (await core.listNode()).items.map((n) => n.metadata?.name).sort();
    expect(names).toEqual(spec.spec.modules.map((m) => m.name).sort());
    for (const m of spec.spec.modules) {
      const n = await node(m.name);
      expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, m.name).toBe('True');
      // The node lifecycle controller mirrors kubernetes.io/{arch,os} into the deprecated beta labels.
      const labels = Object.fromEntries(Object.entries(n.metadata?.labels ?? {}).filter(([k]) => !k.startsWith('beta.kubernetes.io/')));
      expect(labels).toEqual({
        ...nodeLabels(spec, m),
        'kubernetes.io/arch': hardwareOf(m).arch,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': m.name,
        type: 'kwok',
        'edgebox.dev/local-heartbeat': 'kwok',
      });
    }
  });

  it('gives each node exactly the taints render gives (once the not-ready taint is lifted)', async () => {
    for (const m of spec.spec.modules) {
      await eventually(
        async () => {
          const taints = ((await node(m.name)).spec?.taints ?? []).map((t) => ({ key: t.key, value: t.value, effect: t.effect }));
          expect(taints).toEqual(nodeTaints(spec, m));
        },
        { timeoutMs: 30_000, message: `${m.name} has exactly its edgebox taints` },
      );
    }
    // The seed box has both kinds of module, so Jetsons carry the accelerator taint.
    expect((await node('jetson-1')).spec?.taints?.map((t) => t.key)).toContain('edgebox.dev/accelerator');
  });

  it('gives each node the capacity of its hardware and the allocatable of its role', async () => {
    const servers = new Set(initialServers(spec).map((m) => m.name));
    for (const m of spec.spec.modules) {
      const hw = hardwareOf(m);
      const n = await node(m.name);
      const cap = n.status?.capacity ?? {};
      const alloc = n.status?.allocatable ?? {};
      const free = allocatable(hw, servers.has(m.name) ? 'server' : 'agent');
      expect(parseQuantity(cap.cpu!), m.name).toBe(hw.cpuCores);
      expect(parseQuantity(cap.memory!), m.name).toBe(hw.memoryBytes);
      expect(parseQuantity(alloc.cpu!)! * 1000, m.name).toBeCloseTo(free.cpuMillis);
      expect(parseQuantity(alloc.memory!), m.name).toBe(free.memoryBytes);
      expect(cap.pods).toBe(String(MAX_PODS));
      expect(parseQuantity(cap['ephemeral-storage'] ?? '')).toBeGreaterThan(0);
      if (hw.accelerator) {
        expect(cap[hw.accelerator.resource], m.name).toBe(String(hw.accelerator.count));
        expect(alloc[hw.accelerator.resource], m.name).toBe(String(hw.accelerator.count));
      } else {
        expect(
          Object.keys(cap).filter((k) => k.includes('/')),
          m.name,
        ).toEqual([]);
      }
      expect(n.status?.nodeInfo?.architecture).toBe(hw.arch);
    }
    // jetson-1 is the third server of the seed box, jetson-2 an agent: their allocatable differs.
    expect((await node('jetson-1')).status?.allocatable?.cpu).toBe('5250m');
    expect((await node('jetson-2')).status?.allocatable?.cpu).toBe('5750m');
  });

  it('gives module N the loopback address 127.0.1.N as InternalIP and annotation', async () => {
    for (const [i, m] of spec.spec.modules.entries()) {
      const n = await node(m.name);
      const address = `127.0.1.${i + 1}`;
      expect(n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, m.name).toBe(address);
      expect(n.metadata?.annotations?.['edgebox.dev/local-address'], m.name).toBe(address);
    }
  });

  it('schedules a pod that needs CUDA onto a Jetson with the real scheduler, and KWOK runs it', async () => {
    const pod: V1Pod = {
      metadata: { name: 'needs-cuda', namespace: 'default' },
      spec: {
        nodeSelector: { [capabilityLabel('gpu.cuda')]: 'true' },
        tolerations: [{ key: 'edgebox.dev/accelerator', operator: 'Exists', effect: 'NoSchedule' }],
        containers: [{ name: 'detector', image: 'ghcr.io/example/detector:1.0', resources: { limits: { 'nvidia.com/gpu': '1' } } }],
      },
    };
    await core.createNamespacedPod({ namespace: 'default', body: pod });
    const running = await eventually(
      async () => {
        const p = await core.readNamespacedPod({ name: 'needs-cuda', namespace: 'default' });
        expect(p.status?.phase).toBe('Running');
        return p;
      },
      { timeoutMs: 30_000, message: 'pod needs-cuda Running' },
    );
    expect(['jetson-1', 'jetson-2']).toContain(running.spec?.nodeName);
    const index = spec.spec.modules.findIndex((m) => m.name === running.spec?.nodeName);
    expect(running.status?.hostIP).toBe(`127.0.1.${index + 1}`);
  });

  it('reports a running pod Ready again after it was marked NotReady, as the kubelet of a live module does', async () => {
    // What the node lifecycle controller writes when a node's Lease is late (MarkPodsNotReady).
    const pod = await core.readNamespacedPod({ name: 'needs-cuda', namespace: 'default' });
    pod.status!.conditions = pod.status!.conditions!.map((c) => (c.type === 'Ready' ? { ...c, status: 'False', lastTransitionTime: new Date() } : c));
    const marked = await core.replaceNamespacedPodStatus({ name: 'needs-cuda', namespace: 'default', body: pod });
    expect(marked.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    await eventually(
      async () => {
        const p = await core.readNamespacedPod({ name: 'needs-cuda', namespace: 'default' });
        expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
        expect(p.status?.phase).toBe('Running');
      },
      { timeoutMs: 15_000, message: 'needs-cuda Ready again' },
    );
  });

  it('keeps a pod that needs a capability no module has Pending', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'needs-npu', namespace: 'default' },
        spec: { nodeSelector: { [capabilityLabel('npu')]: 'true' }, containers: [{ name: 'c', image: 'ghcr.io/example/npu:1' }] },
      },
    });
    const reason = await eventually(
      async () => {
        const p = await core.readNamespacedPod({ name: 'needs-npu', namespace: 'default' });
        const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
        expect(scheduled?.status).toBe('False');
        return scheduled?.reason;
      },
      { timeoutMs: 30_000, message: 'the scheduler reports needs-npu unschedulable' },
    );
    expect(reason).toBe('Unschedulable');
  });

  it('is idempotent: up on the running box starts nothing', async () => {
    const again = await up(SPEC, { dir: box.dir });
    expect(again.alreadyRunning).toBe(true);
  });
});

describe('edgebox local up without the binaries', () => {
  it('fails (does not skip) and says to run `edgebox local setup`', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'edgebox-empty-cache-'));
    const saved = process.env.EDGEBOX_CACHE;
    process.env.EDGEBOX_CACHE = empty;
    try {
      await expect(startBox(SPEC)).rejects.toThrow(/local\.not-set-up[\s\S]*run `edgebox local setup`/);
    } finally {
      if (saved === undefined) delete process.env.EDGEBOX_CACHE;
      else process.env.EDGEBOX_CACHE = saved;
      await rm(empty, { recursive: true, force: true });
    }
  });
});
