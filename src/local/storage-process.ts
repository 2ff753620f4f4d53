import { jsonLog } from '../base/log.js';
import { boxFiles } from './credentials.js';
import { runSimulatedStorage } from './simulated-storage.js';

/**
 * The simulated storage (simulated-storage.ts) as a process of its own: `local up` starts it
 * detached, like the API proxy, with the box dir as its argument.
 */
const dir = process.argv[2];
if (!dir) throw new Error('usage: storage-process.js <box dir>');
const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
const log = jsonLog({ component: 'simulated-storage' }, (l) => process.stderr.write(l));
await runSimulatedStorage(boxFiles(dir).kubeconfig, log, stop.signal);
