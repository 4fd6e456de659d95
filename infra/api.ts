/**
 * The HTTP API on Cloud Run: functions/api/main.ts, the same plain server the local stack
 * and the tests run, from the same container image as the ingress. Not the functions
 * framework, which reads every request body before the handler can refuse it
 * (functions/api/body-gate.ts).
 *
 * A Cloud Run service rather than a Cloud Function: the API is public (clients present
 * tether bearer tokens, not Google credentials), and a Cloud Run service can switch its
 * invoker check off without an `allUsers` grant, which a 2nd-gen function cannot.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { CONTAINER_PORT, type PublicServiceDeps, tokenSecretEnvs } from "./cloud-run";
import { asContainerEnvs } from "./deployable-settings";
import { type DeployableNames, logicalName } from "./names";

/** The API's entry point in the image: the build output of functions/api/main.ts. */
export const API_MAIN = "dist/functions/api/main.js";
/** Long enough to stream an hour of conversation as audio.wav. */
export const API_REQUEST_TIMEOUT = "300s";

export function apiCommand(): { commands: string[]; args: string[] } {
  return { commands: ["node"], args: [API_MAIN] };
}

export function apiService(
  resources: EnvironmentResources,
  names: DeployableNames,
  deps: PublicServiceDeps,
  opts: pulumi.CustomResourceOptions,
): gcp.cloudrunv2.Service {
  return new gcp.cloudrunv2.Service(
    logicalName(resources, "api"),
    {
      project: resources.projectId,
      location: deps.region,
      name: names.services.api,
      description: `tether ${resources.environment}: HTTP API (/v1/conversations, /v1/people)`,
      ingress: "INGRESS_TRAFFIC_ALL",
      invokerIamDisabled: true,
      deletionProtection: false,
      template: {
        serviceAccount: deps.accounts.api.email,
        timeout: API_REQUEST_TIMEOUT,
        maxInstanceRequestConcurrency: 80,
        scaling: { minInstanceCount: 0, maxInstanceCount: 10 },
        containers: [
          {
            image: deps.image,
            ...apiCommand(),
            ports: { containerPort: CONTAINER_PORT },
            envs: [...asContainerEnvs(deps.settings), ...tokenSecretEnvs(deps.tokenSecret)],
            resources: { limits: { cpu: "1", memory: "512Mi" } },
          },
        ],
      },
    },
    opts,
  );
}
