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
import { type DeployableSettings, TOKEN_KEY_VARIABLES } from "./deployable-settings";
import type { ServiceAccounts } from "./identity";
import type { TokenKeyVersion, TokenSecret } from "./secrets";

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

/**
 * The token-signing keys as Secret Manager references, each pinned to its version, with
 * their key ids (shared/config.ts reads them). A new key set is a new revision: its
 * instances start with it while the old revision's drain.
 */
export function tokenSecretEnvs(secret: TokenSecret): gcp.types.input.cloudrunv2.ServiceTemplateContainerEnv[] {
  const ref = (version: TokenKeyVersion) => ({
    secretKeyRef: { secret: secret.secret.secretId, version: version.version.version },
  });
  const { current, retiring } = secret;
  return [
    { name: TOKEN_KEY_VARIABLES.secret, valueSource: ref(current) },
    { name: TOKEN_KEY_VARIABLES.keyId, value: current.keyId },
    ...(retiring === undefined
      ? []
      : [
          { name: TOKEN_KEY_VARIABLES.retiringSecret, valueSource: ref(retiring) },
          { name: TOKEN_KEY_VARIABLES.retiringKeyId, value: retiring.keyId },
        ]),
  ];
}
