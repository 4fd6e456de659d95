/**
 * The WebSocket ingress on Cloud Run, from the container built by the repository's
 * Dockerfile (`node dist/functions/ingress/main.js`).
 *
 * A WebSocket is one long request: the request timeout is Cloud Run's maximum (3600 s), so
 * a socket lasts up to an hour before the client resumes; session affinity sends a
 * reconnecting client back to the same instance when it still exists; one instance holds
 * many sockets at once. CPU stays allocated outside requests so the idle-timeout timers that
 * finalize abandoned conversations keep running after their socket is gone.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { CONTAINER_PORT, type PublicServiceDeps, tokenSecretEnvs } from "./cloud-run";
import { asContainerEnvs, INGRESS_REQUEST_TIMEOUT_SECONDS } from "./deployable-settings";
import { type DeployableNames, logicalName } from "./names";

export const INGRESS_REQUEST_TIMEOUT = `${INGRESS_REQUEST_TIMEOUT_SECONDS}s`;
/** Concurrent sockets per instance: each is ~32 KB/s of PCM16 and one chunk of buffer. */
export const INGRESS_CONCURRENCY = 250;

export function ingressService(
  resources: EnvironmentResources,
  names: DeployableNames,
  deps: PublicServiceDeps & {
    readonly scaling: { readonly minInstances: number; readonly maxInstances: number };
  },
  opts: pulumi.CustomResourceOptions,
): gcp.cloudrunv2.Service {
  return new gcp.cloudrunv2.Service(
    logicalName(resources, "ingress"),
    {
      project: resources.projectId,
      location: deps.region,
      name: names.services.ingress,
      description: `tether ${resources.environment}: WebSocket ingress (GET /v1/listen)`,
      ingress: "INGRESS_TRAFFIC_ALL",
      invokerIamDisabled: true,
      // Stateless: everything durable is in the bucket and the database.
      deletionProtection: false,
      template: {
        serviceAccount: deps.accounts.ingress.email,
        timeout: INGRESS_REQUEST_TIMEOUT,
        sessionAffinity: true,
        maxInstanceRequestConcurrency: INGRESS_CONCURRENCY,
        scaling: { minInstanceCount: deps.scaling.minInstances, maxInstanceCount: deps.scaling.maxInstances },
        containers: [
          {
            image: deps.image,
            ports: { containerPort: CONTAINER_PORT },
            envs: [...asContainerEnvs(deps.settings), ...tokenSecretEnvs(deps.tokenSecret)],
            resources: { limits: { cpu: "1", memory: "1Gi" }, cpuIdle: false, startupCpuBoost: true },
          },
        ],
      },
    },
    opts,
  );
}
