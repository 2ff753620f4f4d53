import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { discover } from '../../src/agent/discovery/discover.js';
import { hostFs } from '../../src/agent/discovery/host-fs.js';
import type { Discovery } from '../../src/agent/discovery/types.js';
import { compareWithSpec, eventReason } from '../../src/agent/findings.js';
import { planNodeUpdate } from '../../src/agent/node-plan.js';
import { PUBLISHED_RESOURCES_ANNOTATION } from '../../src/contract/labels.js';
import { mergeFindings, type EdgeBoxFinding } from '../../src/crd/findings-status.js';
import { nodeLabels } from '../../src/render/node-metadata.js';
import { parseSpec } from '../../src/spec/load.js';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const { box } = parseSpec(readFileSync(root('examples/article-box.yaml'), 'utf8'), 'article-box.yaml');
const mod = (name: string) => box.spec.modules.find((m) => m.name === name)!;
const host = (name: string) => discover(hostFs(root(`test/fixtures/hosts/${name}`)));

describe('comparing discovery with the spec', () => {
  it.each([
    ['jetson-1', 'jetson-xavier-nx-8gb', []],
    ['master-1', 'rpi-cm4-4gb', []],
    [
      'master-1',
      'jetson-nano-4gb',
      [
        ['discovery.capability-missing', 'error', "module 'master-1' has no can, but workload motor-controller relies on it"],
        ['discovery.hardware-mismatch', 'error', "module 'master-1' is jetson-nano-4gb, but the spec says rpi-cm4-4gb"],
      ],
    ],
    [
      'jetson-1',
      'jetson-orin-nx-16gb',
      [['discovery.hardware-mismatch', 'error', "module 'jetson-1' is jetson-orin-nx-16gb, but the spec says jetson-xavier-nx-8gb"]],
    ],
    [
      'jetson-2',
      'broken-xavier-nx',
      [
        ['discovery.capability-missing', 'error', "module 'jetson-2' has no gpu.cuda, but workloads detector-a, detector-b rely on it"],
        ['discovery.capability-missing', 'warning', "module 'jetson-2' has no gpu, but jetson-xavier-nx-8gb has it"],
        ['discovery.hardware-unknown', 'warning', "module 'jetson-2' could not be identified; the spec says it is jetson-xavier-nx-8gb"],
        [
          'discovery.nvidia-runtime-missing',
          'error',
          "module 'jetson-2' has no NVIDIA container runtime, but workloads detector-a, detector-b run with runtimeClassName nvidia",
        ],
      ],
    ],
    ['net-1', 'rpi-cm4-4gb', [['discovery.capability-missing', 'error', "module 'net-1' has no wifi, but workload uplink relies on it"]]],
    [
      'jetson-1',
      'jetson-nano-4gb',
      [
        ['discovery.hardware-mismatch', 'error', "module 'jetson-1' is jetson-nano-4gb, but the spec says jetson-xavier-nx-8gb"],
        ['discovery.capability-missing', 'warning', "module 'jetson-1' has no dla, but jetson-xavier-nx-8gb has it"],
        [
          'discovery.nvidia-runtime-missing',
          'error',
          "module 'jetson-1' has no NVIDIA container runtime, but workloads detector-a, detector-b run with runtimeClassName nvidia",
        ],
      ],
    ],
  ])('%s on a %s host', async (module, fixture, expected) => {
    const findings = compareWithSpec(box, mod(module), await host(fixture));
    expect(findings.map((f) => [f.code, f.severity, f.message]).sort()).toEqual([...expected].sort());
    for (const f of findings) expect(f).toMatchObject({ module, source: 'discovery', hint: expect.any(String) });
  });

  it.each([
    ['discovery.hardware-mismatch', 'HardwareMismatch'],
    ['discovery.capability-missing', 'CapabilityMissing'],
    ['discovery.hardware-unknown', 'HardwareUnknown'],
  ])('%s is Event reason %s', (code, reason) => expect(eventReason(code)).toBe(reason));
});

describe('planning the node update', () => {
  const jetson = mod('jetson-1');
  const fresh = {
    metadata: { labels: nodeLabels(box, jetson) },
    status: { capacity: { cpu: '6', 'nvidia.com/gpu': '1' }, allocatable: { cpu: '5', 'nvidia.com/gpu': '1' } },
  };

  it('adds discovered capabilities, discovered labels and counted devices', async () => {
    const plan = planNodeUpdate(fresh, box, jetson, await host('jetson-xavier-nx-8gb'));
    expect(plan.labels).toMatchObject({
      'discovered.edgebox.dev/cap.can': 'true',
      'discovered.edgebox.dev/cap.dla': 'true',
      'discovered.edgebox.dev/hardware': 'jetson-xavier-nx-8gb',
    });
    // Everything discovered is declared already (the catalog's Xavier NX has it all).
    expect(Object.keys(plan.labels).filter((k) => k.startsWith('edgebox.dev/'))).toEqual([]);
    expect(plan.annotations).toEqual({ [PUBLISHED_RESOURCES_ANNOTATION]: 'edgebox.dev/can,edgebox.dev/dla,nvidia.com/gpu' });
    expect(plan.status).toEqual([
      { op: 'add', path: '/status/capacity/edgebox.dev~1can', value: '1' },
      { op: 'add', path: '/status/allocatable/edgebox.dev~1can', value: '1' },
      { op: 'add', path: '/status/capacity/edgebox.dev~1dla', value: '2' },
      { op: 'add', path: '/status/allocatable/edgebox.dev~1dla', value: '2' },
    ]);
  });

  it('changes nothing on a node that already shows the discovery', async () => {
    const d = await host('jetson-xavier-nx-8gb');
    const first = planNodeUpdate(fresh, box, jetson, d);
    const labels = Object.fromEntries(Object.entries({ ...fresh.metadata.labels, ...first.labels }).filter(([, v]) => v !== null)) as Record<string, string>;
    const extended = Object.fromEntries(Object.entries(d.resources.extended).map(([k, v]) => [k, String(v)]));
    const converged = {
      metadata: { labels, annotations: first.annotations as Record<string, string> },
      status: { capacity: { ...fresh.status.capacity, ...extended }, allocatable: { ...fresh.status.allocatable, ...extended } },
    };
    expect(planNodeUpdate(converged, box, jetson, d)).toEqual({ labels: {}, annotations: {}, status: [], changes: [] });
  });

  it('keeps the declared hardware and capability labels on a mismatch, and removes what it published before', async () => {
    const master = mod('master-1');
    const node = {
      metadata: {
        labels: { ...nodeLabels(box, master), 'edgebox.dev/cap.wifi': 'true', 'discovered.edgebox.dev/cap.wifi': 'true' },
        annotations: { [PUBLISHED_RESOURCES_ANNOTATION]: 'edgebox.dev/can,example.com/gone' },
      },
      status: { capacity: { 'edgebox.dev/can': '1', 'example.com/dongle': '4' }, allocatable: { 'edgebox.dev/can': '1', 'example.com/dongle': '4' } },
    };
    const plan = planNodeUpdate(node, box, master, await host('jetson-nano-4gb'));
    expect(plan.labels['edgebox.dev/hardware']).toBeUndefined();
    expect(plan.labels['discovered.edgebox.dev/hardware']).toBe('jetson-nano-4gb');
    expect(plan.labels['edgebox.dev/cap.can']).toBeUndefined(); // declared: a finding, not a removal
    expect(plan.labels['edgebox.dev/cap.wifi']).toBeNull();
    expect(plan.labels['discovered.edgebox.dev/cap.wifi']).toBeNull();
    expect(plan.status).toEqual(
      [
        { op: 'remove', path: '/status/capacity/edgebox.dev~1can' },
        { op: 'remove', path: '/status/allocatable/edgebox.dev~1can' },
        { op: 'add', path: '/status/capacity/nvidia.com~1gpu', value: '1' },
        { op: 'add', path: '/status/allocatable/nvidia.com~1gpu', value: '1' },
      ].sort((a, b) => (a.op === b.op ? 0 : a.op === 'add' ? -1 : 1)),
    );
    expect(plan.annotations).toEqual({ [PUBLISHED_RESOURCES_ANNOTATION]: 'nvidia.com/gpu' });
  });

  it('labels a discovered capability the spec does not declare', async () => {
    const plan = planNodeUpdate({ metadata: { labels: nodeLabels(box, mod('master-1')) } }, box, mod('master-1'), await host('rpi-cm5-8gb'));
    expect(Object.entries(plan.labels).filter(([k]) => k.startsWith('edgebox.dev/'))).toEqual([['edgebox.dev/cap.wifi', 'true']]);
  });

  it('sets the hardware label on a node that has none', () => {
    const d: Discovery = {
      hardware: 'rpi-cm5-8gb',
      board: { model: null, compatible: [], arch: 'arm64', l4t: null },
      capabilities: [],
      evidence: {},
      resources: { memoryBytes: null, cpus: null, accelerator: null, extended: {} },
      nvidiaRuntime: null,
      notes: [],
    };
    expect(planNodeUpdate({ metadata: { labels: {} } }, box, mod('net-1'), d).labels['edgebox.dev/hardware']).toBe('rpi-cm5-8gb');
  });
});

describe('merging findings into the EdgeBox status', () => {
  const f = (module: string, code: string, source = 'discovery'): EdgeBoxFinding => ({ code, severity: 'error', module, message: `${module} ${code}`, source });
  const t0 = new Date('2030-01-01T00:00:00Z');
  const t1 = new Date('2030-01-01T00:01:00Z');

  it("replaces only the reporting source's findings for that module", () => {
    const current = {
      findings: [f('master-1', 'discovery.hardware-mismatch'), f('jetson-1', 'discovery.hardware-unknown'), f('master-1', 'plan.no-spare', 'plan')],
    };
    const r = mergeFindings(current, { source: 'discovery', module: 'master-1', findings: [f('master-1', 'discovery.capability-missing')], now: t0 });
    expect(r.status.findings!.map((x) => `${x.module} ${x.source} ${x.code}`)).toEqual([
      'jetson-1 discovery discovery.hardware-unknown',
      'master-1 discovery discovery.capability-missing',
      'master-1 plan plan.no-spare',
    ]);
    expect(r.added.map((x) => x.code)).toEqual(['discovery.capability-missing']);
    expect(r.status.conditions).toEqual([
      expect.objectContaining({ type: 'HardwareMatchesSpec', status: 'False', reason: 'FindingsPresent', lastTransitionTime: t0.toISOString() }),
    ]);
  });

  it('reports no change when the status already says it, and keeps the transition time', () => {
    const first = mergeFindings({}, { source: 'discovery', module: 'jetson-1', findings: [], now: t0 });
    expect(first.status.conditions![0]).toMatchObject({ status: 'True', reason: 'NoFindings', lastTransitionTime: t0.toISOString() });
    const again = mergeFindings(first.status, { source: 'discovery', module: 'jetson-1', findings: [], now: t1 });
    expect(again.changed).toBe(false);
    expect(again.status.conditions![0]!.lastTransitionTime).toBe(t0.toISOString());
  });

  it('keeps fields later issues add to the status', () => {
    const r = mergeFindings({ modules: [{ name: 'jetson-1', alive: true }] }, { source: 'discovery', module: 'jetson-1', findings: [], now: t0 });
    expect(r.status.modules).toEqual([{ name: 'jetson-1', alive: true }]);
  });
});
