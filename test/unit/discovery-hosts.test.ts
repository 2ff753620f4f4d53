import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { discover } from '../../src/agent/discovery/discover.js';
import { hostFs } from '../../src/agent/discovery/host-fs.js';

const fixture = (name: string) => hostFs(fileURLToPath(new URL(`../fixtures/hosts/${name}`, import.meta.url)));
const GiB = 1024 ** 3;

describe('discovery on fixture hosts', () => {
  it.each([
    ['jetson-nano-4gb', 'jetson-nano-4gb', ['camera.csi', 'gpio', 'gpu', 'gpu.cuda', 'i2c', 'pcie', 'serial', 'usb'], { 'nvidia.com/gpu': 1 }, 4, 'R32.7.1'],
    [
      'jetson-xavier-nx-8gb',
      'jetson-xavier-nx-8gb',
      ['camera.csi', 'can', 'dla', 'gpio', 'gpu', 'gpu.cuda', 'i2c', 'nvme', 'pcie', 'serial', 'usb'],
      { 'nvidia.com/gpu': 1, 'edgebox.dev/dla': 2, 'edgebox.dev/can': 1 },
      6,
      'R35.4.1',
    ],
    [
      'jetson-orin-nx-16gb',
      'jetson-orin-nx-16gb',
      ['dla', 'gpio', 'gpu', 'gpu.cuda', 'i2c', 'nvme', 'pcie', 'serial', 'usb', 'wifi'],
      { 'nvidia.com/gpu': 1, 'edgebox.dev/dla': 2 },
      8,
      'R36.4.4',
    ],
    ['rpi-cm4-4gb', 'rpi-cm4-4gb', ['camera.csi', 'can', 'gpio', 'i2c', 'pcie', 'serial', 'spi', 'usb'], { 'edgebox.dev/can': 1 }, 4, null],
    ['rpi-cm5-8gb', 'rpi-cm5-8gb', ['gpio', 'i2c', 'nvme', 'pcie', 'serial', 'usb', 'wifi'], {}, 4, null],
    ['turing-rk1-16gb', 'turing-rk1-16gb', ['gpio', 'gpu', 'i2c', 'npu', 'nvme', 'pcie', 'serial', 'usb'], { 'edgebox.dev/npu': 1 }, 8, null],
    ['generic-x86-64', 'generic-x86-64', ['nvme', 'pcie', 'serial', 'usb'], {}, 4, null],
  ] as const)('%s is %s with its capabilities', async (host, hardware, capabilities, extended, cpus, l4t) => {
    const d = await discover(fixture(host));
    expect(d.hardware).toBe(hardware);
    expect(d.capabilities).toEqual(capabilities);
    expect(d.resources.extended).toEqual(extended);
    expect(d.resources.cpus).toBe(cpus);
    expect(d.board.l4t).toBe(l4t);
    for (const c of d.capabilities) expect(d.evidence[c]?.length, c).toBeGreaterThan(0);
  });

  it.each([
    ['jetson-xavier-nx-8gb', { kind: 'gpu', name: '384-core Volta', resource: 'nvidia.com/gpu', count: 1 }],
    ['turing-rk1-16gb', { kind: 'npu', name: 'RK3588 NPU', resource: 'edgebox.dev/npu', count: 1 }],
    ['rpi-cm4-4gb', null],
  ])('%s reports its accelerator', async (host, accelerator) => {
    expect((await discover(fixture(host))).resources.accelerator).toEqual(accelerator);
  });

  it.each([
    ['jetson-orin-nx-16gb', '/usr/bin/nvidia-container-runtime'],
    ['jetson-nano-4gb', null],
    ['rpi-cm4-4gb', null],
  ])('%s: the NVIDIA container runtime found at %s', async (host, path) => {
    expect((await discover(fixture(host))).nvidiaRuntime).toBe(path);
  });

  it('reads memory from MemTotal, a little under the nominal size', async () => {
    const d = await discover(fixture('jetson-xavier-nx-8gb'));
    expect(d.resources.memoryBytes).toBe(7765304 * 1024);
    expect(d.resources.memoryBytes!).toBeGreaterThan(7 * GiB);
  });

  it('ignores codec and ISP video nodes, and placeholder 8250 ports', async () => {
    const d = await discover(fixture('rpi-cm4-4gb'));
    expect(d.evidence['camera.csi']).toEqual(['/dev/video0 (unicam-image, unicam)', '/dev/video1 (unicam-embedded, unicam)']);
    expect(d.evidence.serial).toEqual(['/dev/ttyAMA0']);
    const x86 = await discover(fixture('generic-x86-64'));
    expect(x86.evidence.serial).toEqual(['/dev/ttyUSB0', '/dev/ttyS0']);
  });

  it('notes a Tegra CAN controller whose driver is not loaded', async () => {
    const d = await discover(fixture('jetson-orin-nx-16gb'));
    expect(d.capabilities).not.toContain('can');
    expect(d.notes.map((n) => n.code)).toContain('discovery.can-not-loaded');
  });

  it('degrades on a host with missing and renamed files: fewer capabilities, notes, no throw', async () => {
    const d = await discover(fixture('broken-xavier-nx'));
    expect(d.hardware).toBeNull();
    expect(d.capabilities).toEqual(['dla', 'gpio']);
    expect(d.resources).toMatchObject({ memoryBytes: null, cpus: 1, accelerator: null, extended: { 'edgebox.dev/dla': 1 } });
    expect(d.board.arch).toBeNull();
    const codes = d.notes.map((n) => n.code);
    expect(codes).toEqual(
      expect.arrayContaining([
        'discovery.unreadable', // compatible, can0/type, video0
        'discovery.unparsable', // MemTotal
        'discovery.matched-by-model',
        'discovery.unknown-hardware',
        'discovery.gpu-without-device',
        'discovery.i2c-dev-not-loaded',
      ]),
    );
    const text = d.notes.map((n) => n.message).join('\n');
    expect(text).toContain('/proc/device-tree/compatible');
    expect(text).toContain('/sys/class/net/can0/type');
    expect(text).toContain('/dev/video0');
    expect(text).toContain('Jetson Xavier NX');
  });

  it('works on a root that does not exist at all', async () => {
    const d = await discover(hostFs('/nonexistent-edgebox-root'));
    expect(d).toMatchObject({ hardware: null, capabilities: [], resources: { memoryBytes: null, cpus: null } });
    expect(d.notes.map((n) => n.code)).toContain('discovery.unknown-hardware');
  });
});

describe('discovery on this machine', () => {
  it('identifies it or says why not, without throwing', async () => {
    const d = await discover(hostFs('/'));
    expect(d.resources.cpus).toBeGreaterThan(0);
    expect(d.resources.memoryBytes).toBeGreaterThan(0);
    if (process.arch === 'x64' && d.board.model === null) expect(d.hardware).toBe('generic-x86-64');
    if (d.hardware === null) expect(d.notes.map((n) => n.code)).toContain('discovery.unknown-hardware');
  });
});
