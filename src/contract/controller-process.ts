/**
 * How Node runs `edgebox controller`, wherever it runs (the rendered Deployment, a local box,
 * bench:footprint): a young generation of 1 MB semi-spaces instead of V8's default of up to 16 MB
 * each. The controller allocates little per pass, so the larger nursery only held garbage: about
 * 10 MB of idle RSS (docs/decisions/0012-packaging-and-metrics.md). A flag NODE_OPTIONS may carry.
 */
export const CONTROLLER_NODE_OPTIONS = '--max-semi-space-size=1';

/** The environment of a controller process started from `env`: its NODE_OPTIONS added to the caller's. */
export function controllerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, NODE_OPTIONS: [env.NODE_OPTIONS, CONTROLLER_NODE_OPTIONS].filter(Boolean).join(' ') };
}
