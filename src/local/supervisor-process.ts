import { supervise } from './supervisor.js';

/**
 * The supervisor as a process of its own (`local up` starts it detached, after every other
 * component): Node running this file with the box dir as its argument. Not a CLI command, for the
 * same reason as the API proxy: the CLI's `local` module loads the Kubernetes client library.
 */
const dir = process.argv[2];
if (!dir) throw new Error('usage: supervisor-process.js <box dir>');
const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
process.stderr.write(`supervisor of ${dir}: keeps kube-controller-manager and kube-scheduler running\n`);
await supervise({ dir, log: (msg) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`) }, stop.signal);
