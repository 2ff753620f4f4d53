import { failure, inputError } from '../diagnostics/diagnostic.js';
import { readState } from './box-state.js';
import { boxTag } from './module-cgroup.js';
import { dropChain, ensureChain, iptables } from './partition.js';

/**
 * A hung API server: its process runs and holds its port, but no request to it gets an answer.
 * TCP to one module's API server port is dropped for everyone (clients, the box's API proxy, the
 * readers), so connections hang rather than being refused: what a wedged kube-apiserver looks like
 * from outside. The rules live in a chain of their own (`edgebox-hang-<box tag>`, hooked from
 * OUTPUT), not in the partition chain, whose rules partition.ts rewrites from its own cuts; the
 * comment `edgebox-hang:<module>` names each. `down` removes the chain.
 */

export function hangChain(dir: string): string {
  return `edgebox-hang-${boxTag(dir)}`;
}

/** Drops requests to `module`'s API server until `resumeApiservers`. Idempotent. Needs root. */
export async function hangApiserver(dir: string, module: string): Promise<void> {
  const state = await readState(dir);
  const address = state?.addresses[module];
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  if (!address) throw inputError('local.unknown-module', `box '${state.box}' has no module '${module}'`, `modules: ${Object.keys(state.addresses).join(', ')}`);
  const chain = hangChain(dir);
  await ensureChain(chain);
  const rule = [
    '-d',
    address,
    '-p',
    'tcp',
    '--dport',
    String(state.ports.server.apiserver),
    '-m',
    'comment',
    '--comment',
    `edgebox-hang:${module}`,
    '-j',
    'DROP',
  ];
  if (
    !(await iptables(['-C', chain, ...rule]).then(
      () => true,
      () => false,
    ))
  )
    await iptables(['-A', chain, ...rule]);
}

/** Every hung API server answers again: the chain goes. Quiet when there is none. */
export async function resumeApiservers(dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  await dropChain(hangChain(dir));
}
