/**
 * What the two public Cloud Run services (ingress and API) have in common.
 *
 * Both authenticate their callers themselves (tether's bearer tokens), so they must be
 * reachable without Google credentials. That is done with `invokerIamDisabled`, which turns
 * the Cloud Run invoker check off for this one service, rather than by granting
 * `roles/run.invoker` to `allUsers` (which organisation policies often forbid, and which
 * this project never grants).
 */
import type * as gcp from "@pulumi/gcp";
import { type DeployableSettings, TOKEN_SECRET_VARIABLE } from "./deployable-settings";
import type { ServiceAccounts } from "./identity";
import type { TokenSecret } from "./secrets";

/** What both public services are built from. */
export interface PublicServiceDeps {
  readonly region: string;
  readonly image: string;
  readonly accounts: ServiceAccounts;
  readonly settings: DeployableSettings;
  readonly tokenSecret: TokenSecret;
}

/** The port Cloud Run sends traffic to; it also sets PORT to this value for the container. */
export const CONTAINER_PORT = 8080;

/** The token-signing key as a Secret Manager reference, pinned to the deployed version. */
export function tokenSecretEnv(secret: TokenSecret): gcp.types.input.cloudrunv2.ServiceTemplateContainerEnv {
  return {
    name: TOKEN_SECRET_VARIABLE,
    valueSource: { secretKeyRef: { secret: secret.secret.secretId, version: secret.version.version } },
  };
}
