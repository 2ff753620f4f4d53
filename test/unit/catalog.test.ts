import { describe, expect, it } from 'vitest';
import { CAPABILITY_NAMES, isCapability } from '../../src/catalog/capabilities.js';
import { findHardware, HARDWARE } from '../../src/catalog/hardware.js';
import { allocatable } from '../../src/catalog/reserve.js';

const REQUIRED_IDS = [
  'jetson-nano-4gb',
  'jetson-xavier-nx-8gb',
  'jetson-xavier-nx-16gb',
  'jetson-orin-nano-8gb',
  'jetson-orin-nx-16gb',
  'rpi-cm4-2gb',
  'rpi-cm4-4gb',
  'rpi-cm4-8gb',
  'rpi-cm5-8gb',
  'turing-rk1-8gb',
  'turing-rk1-16gb',
  'turing-rk1-32gb',
  'generic-x86-64',
];

describe('hardware catalog', () => {
  it.each(REQUIRED_IDS)('has %s', (id) => {
    expect(findHardware(id)?.id).toBe(id);
  });

  it('has unique ids and only vocabulary capabilities', () => {
    expect(new Set(HARDWARE.map((h) => h.id)).size).toBe(HARDWARE.length);
    for (const h of HARDWARE) for (const c of h.capabilities) expect(isCapability(c), `${h.id}: ${c}`).toBe(true);
  });

  it('includes the vocabulary the issue names', () => {
    for (const c of ['gpu', 'gpu.cuda', 'npu', 'can', 'camera.csi', 'serial', 'gpio', 'nvme', 'wifi']) expect(CAPABILITY_NAMES).toContain(c);
  });

  it.each([
    ['jetson-xavier-nx-8gb', ['gpu', 'gpu.cuda', 'dla'], 'nvidia.com/gpu', 'arm64'],
    ['turing-rk1-16gb', ['npu'], 'edgebox.dev/npu', 'arm64'],
    ['rpi-cm4-4gb', [], undefined, 'arm64'],
    ['generic-x86-64', [], undefined, 'amd64'],
  ])('%s has its accelerator facts', (id, caps, resource, arch) => {
    const h = findHardware(id)!;
    for (const c of caps) expect(h.capabilities).toContain(c);
    expect(h.accelerator?.resource).toBe(resource);
    expect(h.arch).toBe(arch);
  });

  it('reserves more for a server than for an agent', () => {
    const hw = findHardware('rpi-cm4-4gb')!;
    const server = allocatable(hw, 'server');
    const agent = allocatable(hw, 'agent');
    expect(server.memoryBytes).toBeLessThan(agent.memoryBytes);
    expect(agent.memoryBytes).toBeLessThan(hw.memoryBytes);
    expect(server.cpuMillis).toBe(4000 - 100 - 650);
  });
});
