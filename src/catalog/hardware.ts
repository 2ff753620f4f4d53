import type { Capability } from './capabilities.js';
import { PREFIX } from '../contract/labels.js';

const GiB = 1024 ** 3;

export interface Accelerator {
  kind: 'gpu' | 'npu';
  name: string;
  /** Extended resource advertised on the node, and how many. */
  resource: string;
  count: number;
  /** Peak INT8 TOPS as the datasheet states it (sparse figures where that is all NVIDIA gives). */
  tops?: number;
}

export interface HardwareModel {
  id: string;
  name: string;
  /** Kubernetes architecture (`kubernetes.io/arch`). */
  arch: 'arm64' | 'amd64';
  soc: string;
  cpuCores: number;
  memoryBytes: number;
  accelerator?: Accelerator;
  capabilities: readonly Capability[];
  /** The public document the figures come from. */
  source: string;
}

const jetsonIo: Capability[] = ['camera.csi', 'serial', 'gpio', 'i2c', 'spi', 'usb', 'pcie'];
const rpiIo: Capability[] = ['camera.csi', 'serial', 'gpio', 'i2c', 'spi', 'usb', 'pcie'];

function cuda(name: string, tops: number): Accelerator {
  return { kind: 'gpu', name, resource: 'nvidia.com/gpu', count: 1, tops };
}

const rk1 = (gb: number): HardwareModel => ({
  id: `turing-rk1-${gb}gb`,
  name: `Turing RK1 ${gb}GB`,
  arch: 'arm64',
  soc: 'Rockchip RK3588 (4x Cortex-A76 + 4x Cortex-A55, Mali-G610 MP4)',
  cpuCores: 8,
  memoryBytes: gb * GiB,
  accelerator: { kind: 'npu', name: 'RK3588 NPU', resource: `${PREFIX}/npu`, count: 1, tops: 6 },
  capabilities: ['gpu', 'npu', 'nvme', 'camera.csi', 'serial', 'gpio', 'i2c', 'spi', 'usb', 'pcie'],
  source: 'Turing RK1 compute module specifications; Rockchip RK3588 datasheet',
});

const cm4 = (gb: number): HardwareModel => ({
  id: `rpi-cm4-${gb}gb`,
  name: `Raspberry Pi Compute Module 4 (${gb}GB)`,
  arch: 'arm64',
  soc: 'Broadcom BCM2711 (4x Cortex-A72 @ 1.5 GHz, VideoCore VI)',
  cpuCores: 4,
  memoryBytes: gb * GiB,
  // VideoCore VI has no compute API a workload can use, so no `gpu`; Wi-Fi is a variant
  // option, so the spec adds `wifi` for the wireless versions.
  capabilities: [...rpiIo, 'nvme'],
  source: 'Raspberry Pi Compute Module 4 datasheet',
});

/** The hardware catalog. Ids are stable: specs refer to them. */
export const HARDWARE: readonly HardwareModel[] = [
  {
    id: 'jetson-nano-4gb',
    name: 'NVIDIA Jetson Nano 4GB',
    arch: 'arm64',
    soc: 'Tegra X1 (4x Cortex-A57 @ 1.43 GHz, 128-core Maxwell GPU)',
    cpuCores: 4,
    memoryBytes: 4 * GiB,
    accelerator: cuda('128-core Maxwell', 0.472),
    // The Nano has no CAN controller and no PCIe NVMe on its carrier's standard layout.
    capabilities: ['gpu', 'gpu.cuda', ...jetsonIo],
    source: 'NVIDIA Jetson Nano System-on-Module datasheet',
  },
  {
    id: 'jetson-xavier-nx-8gb',
    name: 'NVIDIA Jetson Xavier NX 8GB',
    arch: 'arm64',
    soc: 'Xavier (6x Carmel ARMv8.2, 384-core Volta GPU with 48 Tensor Cores, 2x NVDLA)',
    cpuCores: 6,
    memoryBytes: 8 * GiB,
    accelerator: cuda('384-core Volta', 21),
    capabilities: ['gpu', 'gpu.cuda', 'dla', 'can', 'nvme', ...jetsonIo],
    source: 'NVIDIA Jetson Xavier NX Series datasheet',
  },
  {
    id: 'jetson-xavier-nx-16gb',
    name: 'NVIDIA Jetson Xavier NX 16GB',
    arch: 'arm64',
    soc: 'Xavier (6x Carmel ARMv8.2, 384-core Volta GPU with 48 Tensor Cores, 2x NVDLA)',
    cpuCores: 6,
    memoryBytes: 16 * GiB,
    accelerator: cuda('384-core Volta', 21),
    capabilities: ['gpu', 'gpu.cuda', 'dla', 'can', 'nvme', ...jetsonIo],
    source: 'NVIDIA Jetson Xavier NX Series datasheet',
  },
  {
    id: 'jetson-orin-nano-8gb',
    name: 'NVIDIA Jetson Orin Nano 8GB',
    arch: 'arm64',
    soc: 'Orin (6x Cortex-A78AE, 1024-core Ampere GPU with 32 Tensor Cores)',
    cpuCores: 6,
    memoryBytes: 8 * GiB,
    accelerator: cuda('1024-core Ampere', 40),
    // The Orin Nano has no NVDLA (only Orin NX and AGX Orin do).
    capabilities: ['gpu', 'gpu.cuda', 'can', 'nvme', ...jetsonIo],
    source: 'NVIDIA Jetson Orin Nano Series datasheet',
  },
  {
    id: 'jetson-orin-nx-16gb',
    name: 'NVIDIA Jetson Orin NX 16GB',
    arch: 'arm64',
    soc: 'Orin (8x Cortex-A78AE, 1024-core Ampere GPU with 32 Tensor Cores, 2x NVDLA v2)',
    cpuCores: 8,
    memoryBytes: 16 * GiB,
    accelerator: cuda('1024-core Ampere', 100),
    capabilities: ['gpu', 'gpu.cuda', 'dla', 'can', 'nvme', ...jetsonIo],
    source: 'NVIDIA Jetson Orin NX Series datasheet',
  },
  cm4(2),
  cm4(4),
  cm4(8),
  {
    id: 'rpi-cm5-8gb',
    name: 'Raspberry Pi Compute Module 5 (8GB)',
    arch: 'arm64',
    soc: 'Broadcom BCM2712 (4x Cortex-A76 @ 2.4 GHz, VideoCore VII)',
    cpuCores: 4,
    memoryBytes: 8 * GiB,
    capabilities: [...rpiIo, 'nvme'],
    source: 'Raspberry Pi Compute Module 5 datasheet',
  },
  rk1(8),
  rk1(16),
  rk1(32),
  {
    id: 'generic-x86-64',
    name: 'Generic x86-64 board (4 cores, 8GB)',
    arch: 'amd64',
    soc: 'x86-64',
    cpuCores: 4,
    memoryBytes: 8 * GiB,
    capabilities: ['nvme', 'usb', 'pcie', 'serial'],
    source: 'a conservative small-form-factor x86 board; override capacity with a catalog of your own',
  },
];

const byId = new Map(HARDWARE.map((h) => [h.id, h]));

export const HARDWARE_IDS: readonly string[] = HARDWARE.map((h) => h.id);

export function findHardware(id: string): HardwareModel | undefined {
  return byId.get(id);
}
