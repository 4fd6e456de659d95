/**
 * The HTTP API on Cloud Run: the `api` HTTP function of functions/index.ts, served by the
 * functions framework from the same container image as the ingress.
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

/** The functions-framework target exported by functions/index.ts. */
export const API_ENTRY_POINT = "api";
/** The functions framework's executable, installed in the image by `npm ci --omit=dev`. */
export const FUNCTIONS_FRAMEWORK_BIN = "node_modules/.bin/functions-framework";
/** Long enough to stream an hour of conversation as audio.wav. */
export const API_REQUEST_TIMEOUT = "300s";

export function apiCommand(): { commands: string[]; args: string[] } {
  return {
    commands: ["node", FUNCTIONS_FRAMEWORK_BIN],
    args: [`--target=${API_ENTRY_POINT}`, "--signature-type=http"],
  };
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
