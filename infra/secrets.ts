/**
 * The environment's token-signing key in Secret Manager.
 *
 * The key comes from the stack's secret config (`tether:tokenSigningKey`), so the first
 * `pulumi up` can deploy services that read it, and it stays encrypted in Pulumi state.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { logicalName } from "./names";

export interface TokenSecret {
  readonly secret: gcp.secretmanager.Secret;
  readonly version: gcp.secretmanager.SecretVersion;
}

export function tokenSecret(
  resources: EnvironmentResources,
  settings: { readonly key: pulumi.Input<string>; readonly protect: boolean },
  opts: pulumi.CustomResourceOptions,
): TokenSecret {
  const secret = new gcp.secretmanager.Secret(
    logicalName(resources, "token-secret"),
    {
      project: resources.projectId,
      secretId: resources.tokenSecret,
      replication: { auto: {} },
      deletionProtection: settings.protect,
    },
    { ...opts, protect: settings.protect },
  );
  const version = new gcp.secretmanager.SecretVersion(
    logicalName(resources, "token-secret-version"),
    { secret: secret.id, secretData: settings.key },
    opts,
  );
  return { secret, version };
}
