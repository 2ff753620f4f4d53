import type { Capability } from '../../catalog/capabilities.js';
import { findHardware } from '../../catalog/hardware.js';
import { readDevices } from './devices.js';
import type { HostFs } from './host-fs.js';
import { identify } from './identify.js';
import { deviceTreeStrings, parseCpuInfo, parseMemTotal, parseTegraRelease } from './procfs.js';
import type { Discovery, Note } from './types.js';

/**
 * Where K3s finds the NVIDIA container runtime at start (its agent searches these and PATH):
 * the toolkit's package, a manual install, and the GPU operator's toolkit directory.
 */
export const NVIDIA_RUNTIME_PATHS = [
  'usr/bin/nvidia-container-runtime',
  'usr/local/bin/nvidia-container-runtime',
  'usr/local/nvidia/toolkit/nvidia-container-runtime',
];

async function findNvidiaRuntime(fs: HostFs): Promise<string | null> {
  const found = await Promise.all(NVIDIA_RUNTIME_PATHS.map((p) => fs.exists(p)));
  const i = found.indexOf(true);
  return i < 0 ? null : `/${NVIDIA_RUNTIME_PATHS[i]!}`;
}

/**
 * Reads what a module is and can do from its own /proc, /sys, /dev and /etc. Never throws for a
 * missing or odd file: each one it cannot use lowers what it finds and leaves a note.
 */
export async function discover(fs: HostFs): Promise<Discovery> {
  const notes: Note[] = [];
  const missing = (path: string, consequence: string) =>
    notes.push({ code: 'discovery.unreadable', message: `/${path} is missing or unreadable: ${consequence}` });

  const [modelRaw, compatibleRaw, cpuinfoText, meminfoText, tegraText] = await Promise.all([
    fs.readFile('proc/device-tree/model'),
    fs.readFile('proc/device-tree/compatible'),
    fs.readFile('proc/cpuinfo'),
    fs.readFile('proc/meminfo'),
    fs.readFile('etc/nv_tegra_release'),
  ]);
  const hasDeviceTree = (await fs.readdir('proc/device-tree')).length > 0;
  const model = deviceTreeStrings(modelRaw)[0] ?? null;
  const compatible = deviceTreeStrings(compatibleRaw);
  // x86 machines have no device tree at all; only a device tree without these is worth a note.
  if (hasDeviceTree && !model) missing('proc/device-tree/model', 'the board is identified without its model string');
  if (hasDeviceTree && compatible.length === 0) missing('proc/device-tree/compatible', 'the board is identified from the model string alone');

  const cpu = cpuinfoText === undefined ? null : parseCpuInfo(cpuinfoText);
  if (!cpu) missing('proc/cpuinfo', 'CPU count and architecture unknown');
  else if (!cpu.arch)
    notes.push({
      code: 'discovery.unparsable',
      message: '/proc/cpuinfo shows neither `CPU architecture: 8` (arm64) nor the `lm` flag (x86-64): architecture unknown',
    });
  const memoryBytes = meminfoText === undefined ? null : (parseMemTotal(meminfoText) ?? null);
  if (memoryBytes === null) {
    if (meminfoText === undefined) missing('proc/meminfo', 'memory size unknown');
    else notes.push({ code: 'discovery.unparsable', message: '/proc/meminfo has no `MemTotal: <n> kB` line: memory size unknown' });
  }
  const l4t = tegraText === undefined ? null : (parseTegraRelease(tegraText) ?? null);
  if (tegraText !== undefined && !l4t) {
    notes.push({
      code: 'discovery.unparsable',
      message: '/etc/nv_tegra_release does not start with `# R<major> (release), REVISION: <minor>`: Jetson Linux release unknown',
    });
  }

  const id = identify({ model, compatible, cpu, memoryBytes });
  const [devices, nvidiaRuntime] = await Promise.all([readDevices(fs, { l4t: tegraText !== undefined }), findNvidiaRuntime(fs)]);
  const capabilities = [...devices.evidence.keys()].sort() as Capability[];

  // The accelerator by the catalog's name when the module was identified as one that has it.
  const catalogAccelerator = id.hardware ? findHardware(id.hardware)?.accelerator : undefined;
  const accelerator =
    devices.accelerator && catalogAccelerator?.resource === devices.accelerator.resource
      ? { ...devices.accelerator, name: catalogAccelerator.name }
      : devices.accelerator;

  return {
    hardware: id.hardware,
    board: { model, compatible, arch: cpu?.arch ?? null, l4t },
    capabilities,
    evidence: Object.fromEntries(capabilities.map((c) => [c, devices.evidence.get(c) ?? []])),
    resources: {
      memoryBytes,
      cpus: cpu && cpu.processors > 0 ? cpu.processors : null,
      accelerator,
      extended: devices.extended,
    },
    nvidiaRuntime,
    notes: [...notes, ...id.notes, ...devices.notes],
  };
}
