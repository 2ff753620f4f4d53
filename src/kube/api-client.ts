import { createConfiguration, ServerConfiguration, type KubeConfig, type RequestContext, type ResponseContext } from '@kubernetes/client-node';

/**
 * How long one request of the controller may take. An API server that lost its etcd quorum, or
 * one whose connection hangs, answers late or never; without a bound one such request would stop
 * every decision behind it while leader election (with its own 1 s bound) keeps renewing. Given
 * up, the request fails, and the next pass decides again on fresh state.
 */
export const REQUEST_TIMEOUT_MS = 3000;

type ApiConstructor<T> = new (config: ReturnType<typeof createConfiguration>) => T;

/**
 * `kc.makeApiClient(Api)`, with every request aborted after `timeoutMs`: the same server and
 * authentication (the KubeConfig itself), and a middleware that sets the abort signal.
 */
export function apiClient<T>(kc: KubeConfig, Api: ApiConstructor<T>, timeoutMs = REQUEST_TIMEOUT_MS): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  return new Api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          pre: async (ctx: RequestContext) => {
            ctx.setSignal(AbortSignal.timeout(timeoutMs));
            return ctx;
          },
          post: async (r: ResponseContext) => r,
        },
      ],
    }),
  );
}
