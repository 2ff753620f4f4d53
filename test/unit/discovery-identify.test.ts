import { describe, expect, it } from 'vitest';
import { identify, nominalGiB } from '../../src/agent/discovery/identify.js';
import { decodeRpiRevision, deviceTreeStrings, parseCpuInfo, parseMemTotal, parseTegraRelease } from '../../src/agent/discovery/procfs.js';

const GiB = 1024 ** 3;
const arm = parseCpuInfo('processor\t: 0\nCPU architecture: 8\n');
const facts = (model: string | null, compatible: string[], memoryBytes: number | null = null, cpu = arm) => ({ model, compatible, cpu, memoryBytes });

describe('hardware identification', () => {
  it.each([
    [
      'Nano devkit',
      facts('NVIDIA Jetson Nano Developer Kit', ['nvidia,p3449-0000-b00+p3448-0000-b00', 'nvidia,jetson-nano', 'nvidia,tegra210']),
      'jetson-nano-4gb',
    ],
    ['Nano eMMC', facts('x', ['nvidia,p3449-0000-b00+p3448-0002-b00', 'nvidia,tegra210']), 'jetson-nano-4gb'],
    ['Nano 2GB', facts('NVIDIA Jetson Nano 2GB Developer Kit', ['nvidia,p3542-0000+p3448-0003', 'nvidia,tegra210']), null],
    ['Xavier NX SD', facts('NVIDIA Jetson Xavier NX Developer Kit', ['nvidia,p3509-0000+p3668-0000', 'nvidia,tegra194']), 'jetson-xavier-nx-8gb'],
    ['Xavier NX 16GB', facts('NVIDIA Jetson Xavier NX Developer Kit', ['nvidia,p3509-0000+p3668-0003', 'nvidia,tegra194']), 'jetson-xavier-nx-16gb'],
    [
      'Orin NX 16GB',
      facts('NVIDIA Jetson Orin NX Engineering Reference Developer Kit', ['nvidia,p3768-0000+p3767-0000', 'nvidia,p3767-0000', 'nvidia,tegra234']),
      'jetson-orin-nx-16gb',
    ],
    [
      'Orin NX 8GB',
      facts('NVIDIA Jetson Orin NX Engineering Reference Developer Kit', ['nvidia,p3768-0000+p3767-0001', 'nvidia,p3767-0001', 'nvidia,tegra234']),
      null,
    ],
    [
      'Orin Nano devkit',
      facts('NVIDIA Jetson Orin Nano Engineering Reference Developer Kit', ['nvidia,p3768-0000+p3767-0005', 'nvidia,p3767-0005', 'nvidia,tegra234']),
      'jetson-orin-nano-8gb',
    ],
    [
      'CM4 2GB by revision',
      facts(
        'Raspberry Pi Compute Module 4 Rev 1.0',
        ['raspberrypi,4-compute-module', 'brcm,bcm2711'],
        1.8 * GiB,
        parseCpuInfo('CPU architecture: 8\nRevision\t: b03140\n'),
      ),
      'rpi-cm4-2gb',
    ],
    ['CM4 8GB by MemTotal', facts('Raspberry Pi Compute Module 4 Rev 1.0', ['raspberrypi,4-compute-module', 'brcm,bcm2711'], 7.7 * GiB), 'rpi-cm4-8gb'],
    ['CM4 1GB', facts('Raspberry Pi Compute Module 4 Rev 1.0', ['raspberrypi,4-compute-module', 'brcm,bcm2711'], 0.9 * GiB), null],
    ['CM4 by revision alone', facts(null, [], null, parseCpuInfo('CPU architecture: 8\nRevision\t: c03141\n')), 'rpi-cm4-4gb'],
    ['CM5 8GB', facts('Raspberry Pi Compute Module 5 Rev 1.0', ['raspberrypi,5-compute-module', 'brcm,bcm2712'], 7.86 * GiB), 'rpi-cm5-8gb'],
    ['CM5 4GB (not in the catalog)', facts('Raspberry Pi Compute Module 5 Rev 1.0', ['raspberrypi,5-compute-module', 'brcm,bcm2712'], 3.9 * GiB), null],
    ['RK1 32GB', facts('Turing Machines RK1', ['turing,rk1', 'rockchip,rk3588'], 31.2 * GiB), 'turing-rk1-32gb'],
    ['RK1 8GB', facts('Turing Machines RK1', ['turing,rk1', 'rockchip,rk3588'], 7.6 * GiB), 'turing-rk1-8gb'],
    ['RK1 by model only', facts('Turing Machines RK1', [], 15.5 * GiB), 'turing-rk1-16gb'],
    ['Xavier NX by model only', facts('NVIDIA Jetson Xavier NX Developer Kit', [], 7.4 * GiB), 'jetson-xavier-nx-8gb'],
    ['another RK3588 board', facts('Radxa ROCK 5B', ['radxa,rock-5b', 'rockchip,rk3588'], 15.5 * GiB), null],
    ['x86 without a device tree', facts(null, [], 16 * GiB, parseCpuInfo('processor : 0\nflags : fpu lm sse2\n')), 'generic-x86-64'],
    ['arm64 without a device tree (ACPI server)', facts(null, [], 16 * GiB), null],
  ])('%s', (_name, f, hardware) => {
    const r = identify(f);
    expect(r.hardware).toBe(hardware);
    if (hardware === null) expect(r.notes.map((n) => n.code)).toContain('discovery.unknown-hardware');
  });

  it.each([
    [3.8, [2, 4, 8], 4],
    [4.0, [2, 4, 8], 4],
    [7.4, [2, 4, 8], 8],
  ])('MemTotal %f GiB of sizes %j is nominally %s GB', (gib, sizes, nominal) => {
    expect(nominalGiB(gib * GiB, sizes)).toBe(nominal);
  });

  it.each([
    [4.1, [2, 4, 8]],
    [5.0, [8, 16]],
    [40, [8, 16, 32]],
  ])('MemTotal %f GiB matches none of the sizes %j', (gib, sizes) => {
    expect(nominalGiB(gib * GiB, sizes)).toBeUndefined();
  });
});

describe('procfs parsers', () => {
  it('splits device-tree string lists', () => {
    expect(deviceTreeStrings('turing,rk1\0rockchip,rk3588\0')).toEqual(['turing,rk1', 'rockchip,rk3588']);
    expect(deviceTreeStrings(undefined)).toEqual([]);
  });

  it.each([
    ['# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022', 'R32.7.1'],
    ['# R36 (release), REVISION: 4.4, GCID: 41062509, BOARD: generic, EABI: aarch64, DATE: Mon Jun 16 16:07:13 UTC 2025\n# KERNEL_VARIANT: oot', 'R36.4.4'],
    ['a line nobody wrote', undefined],
  ])('reads nv_tegra_release %#', (text, release) => {
    expect(parseTegraRelease(text)).toBe(release);
  });

  it.each([
    [0xc03140, { type: 0x14, memoryBytes: 4 * GiB }],
    [0xd04180, { type: 0x18, memoryBytes: 8 * GiB }],
    [0xa02082, { type: 0x08, memoryBytes: 1 * GiB }],
    [0x000e, undefined],
  ])('decodes Raspberry Pi revision %s', (code, decoded) => {
    expect(decodeRpiRevision(code)).toEqual(decoded);
  });

  it('reads MemTotal in bytes and nothing from a malformed line', () => {
    expect(parseMemTotal('MemTotal:        3884428 kB\nMemFree: 1 kB\n')).toBe(3884428 * 1024);
    expect(parseMemTotal('MemTotal: unknown\n')).toBeUndefined();
  });
});
