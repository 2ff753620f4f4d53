import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover } from '../../src/agent/discovery/discover.js';
import { hostFs } from '../../src/agent/discovery/host-fs.js';
import { publish } from '../../src/agent/publish.js';
import type { EdgeBoxStatus } from '../../src/crd/findings-status.js';
import { loadSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { edgebox, ROOT } from './apply-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

const SPEC = join(ROOT, 'examples/article-box.yaml');
const fixture = (name: string) => join(ROOT, 'test/fixtures/hosts', name);

let box: Box;
let spec: BoxSpec;

beforeAll(async () => {
  box = await startBox(SPEC);
  spec = (await loadSpec(SPEC)).box;
});
afterAll(async () => {
  await box?.stop();
});

const node = (name: string) => box.kc.makeApiClient(CoreV1Api).readNode({ name });
const edgeBoxStatus = async (): Promise<EdgeBoxStatus> =>
  (
    (await box.kc
      .makeApiClient(CustomObjectsApi)
      .getClusterCustomObject({ group: 'edgebox.dev', version: 'v1alpha1', plural: 'edgeboxes', name: 'vision-cell' })) as { status?: EdgeBoxStatus }
  ).status ?? {};
const publishFixture = async (module: string, host: string) =>
  publish({ kc: box.kc, box: spec, node: module, discovery: await discover(hostFs(fixture(host))) });

describe('edgebox agent publish on the seed box', () => {
  it('puts what a Xavier NX discovers on jetson-1: labels and extended resources', async () => {
    const r = await edgebox([
      'agent',
      'publish',
      '--node',
      'jetson-1',
      '--spec',
      SPEC,
      '--root',
      fixture('jetson-xavier-nx-8gb'),
      '--kubeconfig',
      box.kubeconfigPath,
      '-o',
      'json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).publish).toMatchObject({ module: 'jetson-1', findings: [], events: [] });

    const n = await eventually(
      async () => {
        const live = await node('jetson-1');
        expect(live.status?.capacity?.['edgebox.dev/dla']).toBe('2');
        return live;
      },
      { timeoutMs: 10_000, message: 'jetson-1 to show edgebox.dev/dla' },
    );
    expect(n.metadata?.labels).toMatchObject({
      'discovered.edgebox.dev/hardware': 'jetson-xavier-nx-8gb',
      'discovered.edgebox.dev/cap.gpu.cuda': 'true',
      'discovered.edgebox.dev/cap.can': 'true',
      'edgebox.dev/cap.dla': 'true',
      'edgebox.dev/hardware': 'jetson-xavier-nx-8gb',
      // Declared, not discovered (no SPI device enabled on the fixture): left in place.
      'edgebox.dev/cap.spi': 'true',
    });
    expect(n.status?.capacity).toMatchObject({ 'nvidia.com/gpu': '1', 'edgebox.dev/can': '1' });
    expect(n.status?.allocatable).toMatchObject({ 'edgebox.dev/dla': '2', 'edgebox.dev/can': '1' });

    const status = await edgeBoxStatus();
    expect(status.findings ?? []).toEqual([]);
    expect(status.conditions).toEqual([expect.objectContaining({ type: 'HardwareMatchesSpec', status: 'True' })]);
  });

  it('changes nothing when the same discovery is published again', async () => {
    const before = (await node('jetson-1')).metadata?.resourceVersion;
    const r = await publishFixture('jetson-1', 'jetson-xavier-nx-8gb');
    expect(r).toMatchObject({ changes: [], findings: [], events: [] });
    expect((await node('jetson-1')).metadata?.resourceVersion).toBe(before);
  });

  it("reports a module that is not the hardware the spec says, keeping other sources' findings", async () => {
    // A finding some other source recorded; discovery must leave it alone.
    const custom = box.kc.makeApiClient(CustomObjectsApi);
    const ref = { group: 'edgebox.dev', version: 'v1alpha1', plural: 'edgeboxes', name: 'vision-cell' };
    const current = (await custom.getClusterCustomObject(ref)) as { status?: EdgeBoxStatus };
    const foreign = { code: 'plan.example', severity: 'warning' as const, module: 'motor-1', message: 'from another source', source: 'plan' };
    await custom.replaceClusterCustomObjectStatus({ ...ref, body: { ...current, status: { ...current.status, findings: [foreign] } } });

    const r = await publishFixture('master-1', 'jetson-nano-4gb');
    expect(r.findings.map((f) => f.code).sort()).toEqual(['discovery.capability-missing', 'discovery.hardware-mismatch']);
    expect(r.events.sort()).toEqual(['CapabilityMissing', 'HardwareMismatch']);

    const status = await edgeBoxStatus();
    expect(status.findings).toEqual(
      expect.arrayContaining([
        foreign,
        expect.objectContaining({
          code: 'discovery.hardware-mismatch',
          severity: 'error',
          module: 'master-1',
          source: 'discovery',
          message: "module 'master-1' is jetson-nano-4gb, but the spec says rpi-cm4-4gb",
        }),
        expect.objectContaining({ code: 'discovery.capability-missing', module: 'master-1', message: expect.stringContaining('motor-controller') }),
      ]),
    );
    expect(status.conditions).toEqual([expect.objectContaining({ type: 'HardwareMatchesSpec', status: 'False', reason: 'FindingsPresent' })]);

    const events = await box.kc
      .makeApiClient(CoreV1Api)
      .listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.kind=Node,involvedObject.name=master-1' });
    expect(events.items.find((e) => e.reason === 'HardwareMismatch')).toMatchObject({
      type: 'Warning',
      message: "module 'master-1' is jetson-nano-4gb, but the spec says rpi-cm4-4gb",
    });

    const labels = (await node('master-1')).metadata?.labels ?? {};
    expect(labels['edgebox.dev/hardware']).toBe('rpi-cm4-4gb');
    expect(labels['discovered.edgebox.dev/hardware']).toBe('jetson-nano-4gb');
  });

  it("clears the module's findings once it is the right hardware again", async () => {
    const r = await publishFixture('master-1', 'rpi-cm4-4gb');
    expect(r.findings).toEqual([]);
    const status = await edgeBoxStatus();
    expect(status.findings?.map((f) => f.source)).toEqual(['plan']);
    expect(status.conditions).toEqual([expect.objectContaining({ type: 'HardwareMatchesSpec', status: 'True' })]);
    // The nano's GPU resource was the agent's own, so it goes with the nano.
    expect((await node('master-1')).status?.capacity?.['nvidia.com/gpu']).toBeUndefined();
  });
});
