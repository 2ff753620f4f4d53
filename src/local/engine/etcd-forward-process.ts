import { connect, createServer } from 'node:net';

/**
 * Runs beside a module's `k3s server`, in the module's network namespace: `<address>:<port>` ->
 * `127.0.0.1:<port>`, for K3s's etcd HTTP gateway, which K3s binds to the loopback only (k3s
 * pkg/etcd/etcd.go). The agent of a real module reaches it on its own loopback; in a local box the
 * agents and tests run on the host and reach the module across the box's bridge. TLS passes
 * through (the etcd server certificate names the node address). Not a CLI command: the CLI's
 * modules would cost this tiny process tens of MB.
 * It exits when K3s does (its parent: the shell that started it exec'd K3s), so a K3s that died by
 * itself leaves no forwarder in a namespace `down` removes.
 */
const [host = '', portArg = ''] = process.argv.slice(2);
const port = Number(portArg);
const parent = process.ppid;

const server = createServer((client) => {
  const upstream = connect(port, '127.0.0.1');
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const s of [client, upstream]) {
    s.on('error', end);
    s.on('close', end);
  }
  client.pipe(upstream).pipe(client);
});
server.on('error', (e) => {
  process.stderr.write(`etcd-forward ${host}:${port}: ${e.message}\n`);
  process.exit(1);
});
server.listen(port, host);
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
server.ref();
