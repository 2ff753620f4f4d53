import { addressKey } from '../base/address.js';
import { CAPABILITY_NAMES, isCapability } from '../catalog/capabilities.js';
import { findHardware, HARDWARE_IDS } from '../catalog/hardware.js';
import { boardKey, boardTakes, POWER_BOARDS } from '../catalog/power-boards.js';
import type { Severity } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { moduleCapabilities } from './derive.js';
import type { BoxSpec } from './schema.js';
import { DEFAULT_K3S_VERSION, unsupportedSettings } from './k3s-version.js';

/** A problem found by a cross-check, located by its field path (the loader adds file:line:col). */
export interface SpecIssue {
  code: string;
  severity: Severity;
  message: string;
  hint?: string;
  path: (string | number)[];
  /** For unresolved references: the name that did not resolve. */
  ref?: string;
}

/**
 * Checks that need the whole spec: names that must resolve, values that must be unique, and
 * requirements that no module could ever satisfy. Pure; runs after the schema has passed.
 */
export function crossCheck(box: BoxSpec): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const { modules, peripherals, workloads, controlPlane } = box.spec;
  const add = (severity: Severity, code: string, path: (string | number)[], message: string, hint?: string, ref?: string) =>
    issues.push({ severity, code, path, message, ...(hint ? { hint } : {}), ...(ref ? { ref } : {}) });

  duplicates(
    modules.map((m) => m.name),
    (i, name) => add('error', 'spec.duplicate-name', ['spec', 'modules', i, 'name'], `module name '${name}' is used twice`, 'give every module a unique name'),
  );
  duplicates(
    peripherals.map((p) => p.name),
    (i, name) =>
      add('error', 'spec.duplicate-name', ['spec', 'peripherals', i, 'name'], `peripheral name '${name}' is used twice`, 'give every peripheral a unique name'),
  );
  duplicates(
    workloads.map((w) => w.name),
    (i, name) =>
      add('error', 'spec.duplicate-name', ['spec', 'workloads', i, 'name'], `workload name '${name}' is used twice`, 'give every workload a unique name'),
  );

  const addresses = new Map<string, string>();
  if (controlPlane.apiAddress) addresses.set(addressKey(controlPlane.apiAddress), 'spec.controlPlane.apiAddress');
  modules.forEach((m, i) => {
    const key = addressKey(m.address);
    const other = addresses.get(key);
    if (other)
      add(
        'error',
        'spec.address-collision',
        ['spec', 'modules', i, 'address'],
        `address ${m.address} of module '${m.name}' is already used by ${other}`,
        'every module and the API address need their own IP',
      );
    else addresses.set(key, `module '${m.name}'`);
  });

  // One module per slot of a board; a board is known by its endpoint, so two boards of one kind
  // each have their own slots.
  const slotOwners = new Map<string, string>();
  modules.forEach((m, i) => {
    if (!m.power) return;
    const board = POWER_BOARDS[m.power.driver];
    if (board.slots === undefined) return;
    const path = ['spec', 'modules', i, 'power', 'slot'];
    if (findHardware(m.hardware) && !boardTakes(board, m.hardware))
      add(
        'error',
        'spec.power-board-hardware',
        ['spec', 'modules', i, 'power', 'driver'],
        `module '${m.name}' is ${m.hardware}, which does not fit a ${board.name} slot`,
        `a ${board.name} takes ${board.takes?.words ?? 'other modules'}; give this module another power driver or none`,
      );
    if (m.power.slot > board.slots) {
      add(
        'error',
        'spec.power-slot',
        path,
        `module '${m.name}' is in slot ${m.power.slot}, and a ${board.name} has slots 1-${board.slots}`,
        `use a slot from 1 to ${board.slots}`,
      );
      return;
    }
    const key = `${boardKey(m.power)} ${m.power.slot}`;
    const other = slotOwners.get(key);
    if (other)
      add(
        'error',
        'spec.power-slot-collision',
        path,
        `module '${m.name}' is in slot ${m.power.slot} of ${m.power.endpoint ?? board.defaultEndpoint}, where module '${other}' already is`,
        "give each module the slot it sits in; modules on another board need that board's endpoint",
      );
    else slotOwners.set(key, m.name);
  });

  const moduleNames = modules.map((m) => m.name);
  modules.forEach((m, i) => {
    if (!findHardware(m.hardware)) {
      add(
        'error',
        'spec.unknown-hardware',
        ['spec', 'modules', i, 'hardware'],
        `unknown hardware '${m.hardware}'`,
        didYouMean(m.hardware, HARDWARE_IDS) ?? 'run `edgebox catalog` to list the hardware ids',
      );
    }
    m.capabilities.forEach((c, j) => checkCapability(c, ['spec', 'modules', i, 'capabilities', j]));
    duplicates(m.roles, (j, role) => add('warning', 'spec.duplicate-role', ['spec', 'modules', i, 'roles', j], `role '${role}' is listed twice`));
  });

  peripherals.forEach((p, i) => {
    p.attachedTo.forEach((name, j) => {
      if (!moduleNames.includes(name)) {
        add(
          'error',
          'spec.unknown-module',
          ['spec', 'peripherals', i, 'attachedTo', j],
          `peripheral '${p.name}' is attached to unknown module '${name}'`,
          didYouMean(name, moduleNames) ?? `known modules: ${[...new Set(moduleNames)].join(', ')}`,
          name,
        );
      }
    });
    duplicates(p.attachedTo, (j, name) =>
      add('warning', 'spec.duplicate-attachment', ['spec', 'peripherals', i, 'attachedTo', j], `module '${name}' is listed twice`),
    );
  });

  const peripheralNames = peripherals.map((p) => p.name);
  workloads.forEach((w, i) => {
    const base = ['spec', 'workloads', i];
    const before = issues.length;
    w.requires.capabilities.forEach((c, j) => checkCapability(c, [...base, 'requires', 'capabilities', j]));
    w.peripherals.forEach((name, j) => {
      if (!peripheralNames.includes(name)) {
        add(
          'error',
          'spec.unknown-peripheral',
          [...base, 'peripherals', j],
          `workload '${w.name}' uses unknown peripheral '${name}'`,
          didYouMean(name, peripheralNames) ??
            (peripheralNames.length ? `known peripherals: ${peripheralNames.join(', ')}` : 'declare it under spec.peripherals'),
          name,
        );
      }
    });
    if (w.singleton && w.kind === 'daemonset') {
      add(
        'error',
        'spec.singleton-daemonset',
        [...base, 'singleton'],
        `workload '${w.name}' is a daemonset, which runs on every module, so it cannot be a singleton`,
        'use kind: deployment or statefulset with replicas: 1',
      );
    }
    if (w.storage && w.kind !== 'statefulset') {
      add(
        'error',
        'spec.storage-not-statefulset',
        [...base, 'storage'],
        `workload '${w.name}' is a ${w.kind}, which has no volume of its own per pod`,
        'use kind: statefulset for a workload with storage, or remove storage',
      );
    }
    if (w.singleton && w.kind !== 'daemonset' && w.replicas > 1) {
      add(
        'error',
        'spec.singleton-replicas',
        [...base, 'replicas'],
        `singleton workload '${w.name}' asks for ${w.replicas} replicas`,
        'a singleton runs exactly one copy: set replicas: 1 or singleton: false',
      );
    }
    // Requirements that no module in the box can meet, whatever fails. Unknown names were
    // reported just above; repeating them as "unsatisfiable" would only add noise.
    if (issues.length > before) return;
    const capable = modules.filter((m) => {
      const caps = moduleCapabilities(m);
      return (
        w.requires.capabilities.every((c) => caps.has(c)) &&
        w.peripherals.every((p) => peripherals.find((q) => q.name === p)?.attachedTo.includes(m.name) ?? true)
      );
    });
    if (capable.length === 0) {
      const missing = [...w.requires.capabilities.map((c) => `capability '${c}'`), ...w.peripherals.map((p) => `peripheral '${p}'`)].join(' and ');
      add(
        'error',
        'spec.unsatisfiable-workload',
        [...base, 'requires'],
        `no module of the box offers ${missing} together, so workload '${w.name}' can never run`,
        'add the capability to a module that reaches the peripheral (spec.modules[].capabilities), or attach the peripheral to a capable module',
      );
    }
  });

  for (const rule of unsupportedSettings(box.spec.k3s.version)) {
    add(
      'error',
      'spec.k3s-version-unsupported',
      ['spec', 'k3s', 'version'],
      `K3s ${box.spec.k3s.version} does not support ${rule.setting}, which edgebox renders for every module (${rule.why})`,
      `pin K3s v${rule.since.join('.')} or later, e.g. ${DEFAULT_K3S_VERSION}`,
    );
  }

  const eligible = modules.filter((m) => m.roles.includes('server')).length;
  if (controlPlane.servers % 2 === 0) {
    add(
      'error',
      'spec.even-servers',
      ['spec', 'controlPlane', 'servers'],
      `controlPlane.servers is ${controlPlane.servers}; an even number of etcd voters tolerates no more failures than one fewer`,
      `use ${controlPlane.servers - 1} or ${controlPlane.servers + 1}`,
    );
  } else if (controlPlane.servers > eligible) {
    add(
      'error',
      'spec.too-few-server-modules',
      ['spec', 'controlPlane', 'servers'],
      `controlPlane.servers is ${controlPlane.servers} but only ${eligible} module(s) may take the server role`,
      `lower servers to ${eligible % 2 === 1 ? eligible : Math.max(1, eligible - 1)} or add 'server' to more modules' roles`,
    );
  } else if (controlPlane.servers === 1) {
    add(
      'warning',
      'spec.single-server',
      ['spec', 'controlPlane', 'servers'],
      'one server means the box has no control-plane redundancy: losing that module loses the API',
      'use servers: 3 so the box survives a server loss',
    );
  }
  return issues;

  function checkCapability(c: string, path: (string | number)[]) {
    if (!isCapability(c)) {
      add(
        'error',
        'spec.unknown-capability',
        path,
        `unknown capability '${c}'`,
        didYouMean(c, CAPABILITY_NAMES) ?? `known capabilities: ${CAPABILITY_NAMES.join(', ')}`,
      );
    }
  }
}

/** Calls `onDuplicate` for every later occurrence of a value already seen. */
function duplicates<T>(values: readonly T[], onDuplicate: (index: number, value: T) => void): void {
  const seen = new Set<T>();
  values.forEach((v, i) => (seen.has(v) ? onDuplicate(i, v) : seen.add(v)));
}
