import type { KubeConfig } from '@kubernetes/client-node';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import type { BoxState } from '../local/box-state.js';

/** Where `status` and `drain` talk to: a cluster by kubeconfig, or a local box by its directory. */
export interface Target {
  kc: KubeConfig;
  /** The box's name when known before asking the API (a local box's state says it). */
  box: string | undefined;
  state: BoxState | undefined;
}

export async function resolveTarget(opts: { kubeconfig?: string; context?: string; dir?: string; box?: string }, command: string): Promise<Target> {
  if (opts.dir !== undefined && opts.kubeconfig !== undefined) {
    throw inputError(`${command}.source`, 'pass at most one of --dir and --kubeconfig', '--dir <box dir> for a local box, --kubeconfig for a cluster');
  }
  const { loadKubeConfig, kubeconfigFlags } = await import('../kube/kubeconfig.js');
  if (opts.dir === undefined) return { kc: loadKubeConfig(kubeconfigFlags(opts)), box: opts.box, state: undefined };
  const [{ readState }, { boxFiles }] = await Promise.all([import('../local/box-state.js'), import('../local/credentials.js')]);
  const state = await readState(opts.dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${opts.dir}`, 'start one with `edgebox local up <spec>`');
  return { kc: loadKubeConfig({ path: boxFiles(opts.dir).kubeconfig }), box: opts.box ?? state.box, state };
}
