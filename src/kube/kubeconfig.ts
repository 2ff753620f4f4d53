import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { inputError } from '../diagnostics/diagnostic.js';

export interface KubeconfigOptions {
  /** --kubeconfig. Default: KUBECONFIG, else ~/.kube/config. */
  path?: string;
  /** --context: the kubeconfig context to use. Default: its current context. */
  context?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/** Loads the kubeconfig the way kubectl picks it: --kubeconfig, else KUBECONFIG, else ~/.kube/config. */
export function loadKubeConfig({ path, context, env = process.env, home = homedir() }: KubeconfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  const fromEnv = env.KUBECONFIG?.split(':').filter(Boolean) ?? [];
  const files = path ? [path] : fromEnv.length ? fromEnv : [join(home, '.kube', 'config')];
  const present = files.filter((f) => existsSync(f));
  if (!present.length) {
    const source = path ? '--kubeconfig' : fromEnv.length ? 'KUBECONFIG' : 'the default location';
    throw inputError(
      'kube.no-kubeconfig',
      `no kubeconfig at ${files.join(', ')} (from ${source})`,
      'pass --kubeconfig PATH or set KUBECONFIG; for a local box, `edgebox local up <spec>` prints its kubeconfig path',
    );
  }
  try {
    kc.loadFromFile(present[0]!);
    // Further KUBECONFIG files merge in, as the client library's loadFromDefault merges them.
    for (const f of present.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(f);
      kc.mergeConfig(more, true);
    }
  } catch (e) {
    throw inputError('kube.bad-kubeconfig', `cannot read the kubeconfig: ${(e as Error).message}`, 'check that the file is a kubeconfig (kubectl config view)');
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) {
      throw inputError(
        'kube.no-context',
        `the kubeconfig (${present.join(', ')}) has no context '${context}'`,
        `pass --context one of: ${kc.contexts.map((c) => c.name).join(', ') || '(none)'}`,
      );
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) {
    throw inputError(
      'kube.bad-kubeconfig',
      `the kubeconfig (${present.join(', ')}) has no current context with a cluster`,
      'set one with `kubectl config use-context NAME`',
    );
  }
  return kc;
}

/** The kubeconfig options of a command's `--kubeconfig` and `--context` flags. */
export function kubeconfigFlags(flags: { kubeconfig?: string | undefined; context?: string | undefined }): KubeconfigOptions {
  return { ...(flags.kubeconfig ? { path: flags.kubeconfig } : {}), ...(flags.context ? { context: flags.context } : {}) };
}
