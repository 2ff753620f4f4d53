import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { failure } from '../../diagnostics/diagnostic.js';
import type { K3sNetwork } from './k3s-plan.js';

const run = promisify(execFile);

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args, { timeout: 10_000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    throw failure(
      'local.netns-failed',
      `ip ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`,
      'the K3s engine needs root and network namespaces (iproute2); run as root, and `edgebox local down` a box left half up',
    );
  }
}

/**
 * The box's bridge with the host end's address, and one namespace per server-capable module,
 * joined to the bridge by a veth pair, with its own loopback and address. Removes leftovers of an
 * earlier run of the same box first, so `up` after a crash starts clean.
 */
export async function createNetwork(net: K3sNetwork): Promise<void> {
  await removeNetwork(net);
  await ip(['link', 'add', net.bridge, 'type', 'bridge']);
  await ip(['addr', 'add', `${net.hostAddress}/${net.prefixLength}`, 'dev', net.bridge]);
  await ip(['link', 'set', net.bridge, 'up']);
  for (const m of Object.values(net.members)) {
    await ip(['netns', 'add', m.netns]);
    await ip(['link', 'add', m.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', m.netns]);
    await ip(['link', 'set', m.veth, 'master', net.bridge, 'up']);
    await ip(['-n', m.netns, 'addr', 'add', `${m.address}/${net.prefixLength}`, 'dev', 'eth0']);
    await ip(['-n', m.netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', m.netns, 'link', 'set', 'lo', 'up']);
    // K3s refuses to start without a default route. On-link, with no gateway: a packet for any
    // other address waits for an ARP answer nobody on the bridge gives, so nothing leaves the box.
    await ip(['-n', m.netns, 'route', 'add', 'default', 'dev', 'eth0']);
  }
}

/**
 * Idempotent: each step ignores what is already gone. The veth pair goes explicitly: a process
 * still in the namespace keeps it alive after `netns delete`.
 */
export async function removeNetwork(net: K3sNetwork): Promise<void> {
  const left: string[] = [];
  for (const m of Object.values(net.members)) {
    await ip(['link', 'delete', m.veth]).catch(() => undefined);
    await ip(['netns', 'delete', m.netns]).catch(() => undefined);
    // A name `netns delete` could not remove (its mount busy) stays listed: said, not ignored, so a
    // box that leaves one behind fails its own `down` rather than a later box's check.
    if (existsSync(`/run/netns/${m.netns}`)) left.push(m.netns);
  }
  await ip(['link', 'delete', net.bridge]).catch(() => undefined);
  if (left.length > 0)
    throw failure(
      'local.netns-remains',
      `network namespace(s) ${left.join(', ')} still exist after \`ip netns delete\``,
      `see what holds them (\`ip netns pids ${left[0]}\`, \`grep ${left[0]} /proc/*/mountinfo\`), stop it, and run \`edgebox local down\` again`,
    );
}
