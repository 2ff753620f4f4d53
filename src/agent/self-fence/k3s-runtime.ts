import { failure } from '../../diagnostics/diagnostic.js';
import { LABELS } from '../../contract/labels.js';
import type { CommandResult, CommandRunner } from '../role/command-runner.js';
import type { RuntimeDriver } from './runtime.js';

/**
 * Self-fencing on a K3s module (docs/runbooks/self-fence.md lists the same commands).
 *
 * 1. Freeze K3s's main process (`systemctl kill --kill-who=main --signal=SIGSTOP`): it holds the
 *    kubelet, which would otherwise restart a stopped sandbox within a second or two from the pod
 *    specs it caches while the API is unreachable. Only the main process: containerd and the
 *    container shims are its children in the same unit and keep serving the CRI.
 * 2. Stop the pod sandboxes of the singleton pods (`crictl stopp`), found by the pod label render
 *    puts on them; the containers stop with their sandbox.
 * Lifting sends SIGCONT: the kubelet resyncs with the API, where the controller has force-deleted
 * the released pods by then, and removes what is left of them.
 *
 * The frozen main process is also the state: an agent restarted while fenced finds it (`ps`
 * shows state T) and stays fenced, and nothing else has to be remembered.
 */

/** A command may take this long; a stuck crictl must not stall the agent's fence loop for good. */
const COMMAND_TIMEOUT_MS = 10_000;

interface CrictlPods {
  items?: { id: string; metadata?: { name?: string; namespace?: string } }[];
}

export function k3sRuntime(runner: Pick<CommandRunner, 'run'>): RuntimeDriver {
  const run = (argv: string[]) => runner.run(argv, { timeoutMs: COMMAND_TIMEOUT_MS });
  const must = async (argv: string[]): Promise<CommandResult> => {
    const r = await run(argv);
    if (r.code !== 0) {
      throw failure(
        'agent.self-fence-failed',
        `\`${argv.join(' ')}\` failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
        'the agent retries on its next check; see docs/runbooks/self-fence.md to stop the singletons by hand',
      );
    }
    return r;
  };

  /** The K3s unit running on this module: `k3s` when active, else `k3s-agent`. */
  const unit = async (): Promise<string> => ((await run(['systemctl', 'is-active', '--quiet', 'k3s'])).code === 0 ? 'k3s' : 'k3s-agent');
  const signal = async (sig: 'SIGSTOP' | 'SIGCONT') => must(['systemctl', 'kill', '--kill-who=main', `--signal=${sig}`, await unit()]);

  const stopSingletons = async (): Promise<string[]> => {
    const listed = await must(['k3s', 'crictl', 'pods', '--label', `${LABELS.singleton}=true`, '--state', 'ready', '-o', 'json']);
    let pods: CrictlPods;
    try {
      pods = JSON.parse(listed.stdout || '{}') as CrictlPods;
    } catch {
      throw failure('agent.self-fence-failed', 'crictl pods printed no JSON', 'check that `k3s crictl pods -o json` works on this module');
    }
    const items = pods.items ?? [];
    if (items.length > 0) await must(['k3s', 'crictl', 'stopp', ...items.map((p) => p.id)]);
    return items.map((p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? p.id}`);
  };

  const fence = async (): Promise<string[]> => {
    // The kubelet first: between the two steps it must not be able to restart anything.
    await signal('SIGSTOP');
    return stopSingletons();
  };

  return {
    name: 'k3s',
    async isFenced() {
      const pid = (await run(['systemctl', 'show', '--property=MainPID', '--value', await unit()])).stdout.trim();
      if (!/^[1-9]\d*$/.test(pid)) return false;
      return (await run(['ps', '-o', 'stat=', '-p', pid])).stdout.trim().startsWith('T');
    },
    fence,
    // Again on every check: SIGSTOP is idempotent, and a K3s restarted by hand would run again.
    keepFenced: fence,
    async lift() {
      await signal('SIGCONT');
    },
  };
}
