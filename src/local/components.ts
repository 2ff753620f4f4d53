import { join } from 'node:path';
import { KUBERNETES_DEFAULTS, TUNED, type Timings } from '../render/tuning.js';
import type { Ports } from './box-state.js';
import { servingCertFile, type BoxFiles } from './credentials.js';
import { LOOPBACK } from './ports.js';
import { KWOK_SELECTOR } from './simulated-nodes.js';
import type { Component } from './toolchain.js';

export const TIMINGS_NAMES = ['default', 'tuned'] as const;
export type TimingsName = (typeof TIMINGS_NAMES)[number];

export function timingsFor(name: TimingsName): Timings {
  return name === 'tuned' ? TUNED : KUBERNETES_DEFAULTS;
}

/** K3s's default service and cluster CIDRs, so addresses look as they will on the box. Never routed. */
const SERVICE_CIDR = '10.43.0.0/16';
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
  name: Component;
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
 * The command line of every component, in start order. Pure: `up` runs these, the docs describe
 * them. Everything binds 127.0.0.1 and gets a free port; kube-controller-manager and
 * kube-scheduler write their self-signed serving certificates to the box dir so their /healthz
 * can be checked with verification. Leader election is off: each runs once per box.
 */
export function componentCommands(ctx: CommandContext): ComponentCommand[] {
  const { files, ports, timings } = ctx;
  const etcdClient = `http://${LOOPBACK}:${ports.etcdClient}`;
  const etcdPeer = `http://${LOOPBACK}:${ports.etcdPeer}`;
  // No --authentication-kubeconfig / --authorization-kubeconfig: with token auth only, the API
  // server publishes no extension-apiserver-authentication ConfigMap, and delegated auth would
  // retry reading it forever (log noise, API load). The health paths are always allowed.
  const serving = (certDir: string, port: number) => [
    `--kubeconfig=${files.kubeconfig}`,
    `--bind-address=${LOOPBACK}`,
    `--secure-port=${port}`,
    `--cert-dir=${certDir}`,
    '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
    '--leader-elect=false',
  ];
  const kcmCerts = join(ctx.dir, 'pki', 'kube-controller-manager');
  const schedulerCerts = join(ctx.dir, 'pki', 'kube-scheduler');
  return [
    {
      name: 'etcd',
      args: [
        '--name=edgebox',
        `--data-dir=${files.etcdData}`,
        `--listen-client-urls=${etcdClient}`,
        `--advertise-client-urls=${etcdClient}`,
        `--listen-peer-urls=${etcdPeer}`,
        `--initial-advertise-peer-urls=${etcdPeer}`,
        `--initial-cluster=edgebox=${etcdPeer}`,
        // A throwaway test cluster: durability across power loss is not worth the fsync latency.
        '--unsafe-no-fsync',
      ],
      health: { url: `${etcdClient}/health` },
    },
    {
      name: 'kube-apiserver',
      args: [
        `--etcd-servers=${etcdClient}`,
        `--bind-address=${LOOPBACK}`,
        // Without it the API server advertises the host's first non-loopback address.
        `--advertise-address=${LOOPBACK}`,
        `--secure-port=${ports.apiserver}`,
        `--cert-dir=${files.certDir}`,
        `--token-auth-file=${files.tokenFile}`,
        '--authorization-mode=RBAC',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${files.serviceAccountKey}`,
        `--service-account-signing-key-file=${files.serviceAccountKey}`,
        // No kube-proxy or endpoints to keep: the `kubernetes` Service's endpoints are not needed.
        '--endpoint-reconciler-type=none',
        `--default-not-ready-toleration-seconds=${timings.defaultTolerationSeconds}`,
        `--default-unreachable-toleration-seconds=${timings.defaultTolerationSeconds}`,
      ],
      health: { url: `https://${LOOPBACK}:${ports.apiserver}/readyz`, caFile: servingCertFile(files), auth: true },
    },
    {
      name: 'kube-controller-manager',
      args: [
        ...serving(kcmCerts, ports.controllerManager),
        `--service-account-private-key-file=${files.serviceAccountKey}`,
        `--root-ca-file=${servingCertFile(files)}`,
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
