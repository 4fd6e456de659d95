/**
 * The settings every deployable reads (shared/config.ts), wired from the created resources.
 *
 * Ingress, workers and API get the very same map: the environment from the stack, the
 * project and bucket from the bucket resource itself, and the stack's tuning. A worker and
 * a reader therefore cannot disagree about where a conversation lives, and the code's own
 * check (TETHER_BUCKET must equal the naming module's bucket) guards the rest.
 */
import type * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import type { DeployableTuning } from "./config";

export type DeployableSettings = Readonly<Record<string, pulumi.Input<string>>>;

/** The variables that carry the token-signing keys (from Secret Manager) and their ids (shared/config.ts). */
export const TOKEN_KEY_VARIABLES = {
  secret: "TETHER_TOKEN_SECRET",
  keyId: "TETHER_TOKEN_KID",
  retiringSecret: "TETHER_TOKEN_RETIRING_SECRET",
  retiringKeyId: "TETHER_TOKEN_RETIRING_KID",
} as const;

/** Cloud Run's request timeout for the ingress (its maximum): a WebSocket ends at it. */
export const INGRESS_REQUEST_TIMEOUT_SECONDS = 3600;
/**
 * A socket's maximum life (`TETHER_MAX_SOCKET_SECONDS`, read by the ingress): its `goaway`
 * and handover are over before Cloud Run cuts the request at its timeout.
 */
export const INGRESS_MAX_SOCKET_SECONDS = INGRESS_REQUEST_TIMEOUT_SECONDS - 120;

export function deployableSettings(
  resources: EnvironmentResources,
  bucket: gcp.storage.Bucket,
  tuning: DeployableTuning,
): DeployableSettings {
  return {
    TETHER_ENVIRONMENT: resources.environment,
    TETHER_PROJECT_ID: bucket.project,
    TETHER_BUCKET: bucket.name,
    TETHER_MAX_SOCKET_SECONDS: String(INGRESS_MAX_SOCKET_SECONDS),
    ...tuning,
  };
}

/** The same settings as Cloud Run container `envs`. */
export function asContainerEnvs(
  settings: DeployableSettings,
): gcp.types.input.cloudrunv2.ServiceTemplateContainerEnv[] {
  return Object.entries(settings).map(([name, value]) => ({ name, value }));
}
