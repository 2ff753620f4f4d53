import { startApiProxy, type ApiProxyOptions } from './api-proxy.js';

/**
 * The API proxy as a process of its own (`local up` starts it detached, like the components):
 * Node running this file with its options as one JSON argument. Not a CLI command: the CLI's
 * `local` module loads the Kubernetes client library, which would triple the proxy's memory.
 */
const opts = JSON.parse(process.argv[2] ?? '{}') as ApiProxyOptions;
const proxy = await startApiProxy(opts);
process.stderr.write(`api-proxy listening on ${opts.host}:${opts.port}, backends ${opts.backends.join(', ')}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void proxy.close().then(() => process.exit(0)));
}
