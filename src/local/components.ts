import { join } from 'node:path';
import type { Timings } from '../render/tuning.js';
import type { BoxComponent, Ports } from './box-state.js';
import type { BoxFiles } from './credentials.js';
import { LOOPBACK } from './ports.js';
import { KWOK_SELECTOR } from './simulated-nodes.js';
import type { Component } from './toolchain.js';

/** K3s's default cluster CIDR, so pod addresses look as they will on the box. Never routed. */
const POD_CIDR = '10.42.0.0/16';

/** How to tell a component has started: an HTTP(S) endpoint that answers 200. */
export interface HealthCheck {
  url: string;
  /** PEM file to verify the component's self-signed certificate with. */
  caFile?: string;
  /** Send the admin token (kube-apiserver's /readyz lists its checks to authenticated users). */
  auth?: boolean;
}

export interface ComponentCommand {
  name: Extract<BoxComponent, Component>;
  args: string[];
  env?: NodeJS.ProcessEnv;
  health?: HealthCheck;
}

export interface CommandContext {
  files: BoxFiles;
  ports: Ports;
  timings: Timings;
  dir: string;
}

/**
 * The command line of the box-level components, in start order (each module's etcd and
 * kube-apiserver are the role driver's: src/local/process-plan.ts). Pure: `up` runs these,
 * the docs describe them. They bind 127.0.0.1 on free ports and reach the API through the box's
 * API address; kube-controller-manager and kube-scheduler write their self-signed serving
 * certificates to the box dir so their /healthz can be checked with verification. Leader
 * election is on, as on a box with several servers: a restarted or second instance waits its turn.
 */
export function componentCommands(ctx: CommandContext): ComponentCommand[] {
  const { files, ports, timings } = ctx;
  // No --authentication-kubeconfig / --authorization-kubeconfig: with token auth only, the API
  // server publishes no extension-apiserver-authentication ConfigMap, and delegated auth would
  // retry reading it forever (log noise, API load). The health paths are always allowed.
  const serving = (certDir: string, port: number) => [
    `--kubeconfig=${files.kubeconfig}`,
    `--bind-address=${LOOPBACK}`,
    `--secure-port=${port}`,
    `--cert-dir=${certDir}`,
    '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
    '--leader-elect=true',
  ];
  const kcmCerts = join(ctx.dir, 'pki', 'kube-controller-manager');
  const schedulerCerts = join(ctx.dir, 'pki', 'kube-scheduler');
  return [
    {
      name: 'kube-controller-manager',
      args: [
        ...serving(kcmCerts, ports.controllerManager),
        `--service-account-private-key-file=${files.serviceAccountKey}`,
        `--root-ca-file=${files.caFile}`,
        `--node-monitor-period=${timings.nodeMonitorPeriodSeconds}s`,
        `--node-monitor-grace-period=${timings.nodeMonitorGracePeriodSeconds}s`,
      ],
      health: { url: `https://${LOOPBACK}:${ports.controllerManager}/healthz`, caFile: join(kcmCerts, 'kube-controller-manager.crt') },
    },
    {
      name: 'kube-scheduler',
      args: serving(schedulerCerts, ports.scheduler),
      health: { url: `https://${LOOPBACK}:${ports.scheduler}/healthz`, caFile: join(schedulerCerts, 'kube-scheduler.crt') },
    },
    {
      name: 'kwok',
      args: [
        `--kubeconfig=${files.kubeconfig}`,
        `--config=${files.kwokConfig}`,
        '--manage-all-nodes=false',
        // A label selector, not an annotation one: KWOK sends it to the API server with its
        // watch, so removing the label drops the node from KWOK at once (`local kill`).
        `--manage-nodes-with-label-selector=${KWOK_SELECTOR.key}=${KWOK_SELECTOR.value}`,
        `--node-lease-duration-seconds=${timings.nodeLeaseDurationSeconds}`,
        `--cidr=${POD_CIDR}`,
      ],
      env: { ...process.env, HOME: files.kwokHome },
      // No health endpoint (KWOK serves none unless given a node port); `up` waits for the
      // nodes it plays to become Ready instead.
    },
  ];
}
