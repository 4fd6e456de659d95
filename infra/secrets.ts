/**
 * The environment's token-signing keys in Secret Manager: one secret, one version per key.
 *
 * The keys come from the stack's secret config (`tether:tokenSigningKey` with
 * `tether:tokenKeyId`, and while a rotation is under way `tether:retiringTokenSigningKey`
 * with `tether:retiringTokenKeyId`), so the first `pulumi up` can deploy services that read
 * them, and they stay encrypted in Pulumi state. Each version's Pulumi name is its key id:
 * when the current key becomes the retiring one (same id, same value), its version is left
 * untouched, and the tokens it signed keep verifying (infra/README.md, rotation).
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { FIRST_TOKEN_KEY_ID } from "./config";
import { logicalName } from "./names";

/** A key as the stack configures it: its `kid` and its (secret) value. */
export interface TokenKeyInput {
  readonly keyId: string;
  readonly key: pulumi.Input<string>;
}

export interface TokenKeyVersion {
  readonly keyId: string;
  readonly version: gcp.secretmanager.SecretVersion;
}

export interface TokenSecret {
  readonly secret: gcp.secretmanager.Secret;
  /** Signs resume tokens, verifies tokens without a `kid` or with its own. */
  readonly current: TokenKeyVersion;
  /** Still verifies the tokens it signed; signs nothing. */
  readonly retiring: TokenKeyVersion | undefined;
}

export function tokenSecret(
  resources: EnvironmentResources,
  settings: { readonly current: TokenKeyInput; readonly retiring?: TokenKeyInput; readonly protect: boolean },
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
  const version = (key: TokenKeyInput): TokenKeyVersion => ({
    keyId: key.keyId,
    version: new gcp.secretmanager.SecretVersion(
      logicalName(resources, `token-key-${key.keyId}`),
      { secret: secret.id, secretData: key.key },
      {
        ...opts,
        // Stacks deployed before key ids had one version under this name: keep it, not replace it.
        ...(key.keyId === FIRST_TOKEN_KEY_ID
          ? { aliases: [{ name: logicalName(resources, "token-secret-version") }] }
          : {}),
      },
    ),
  });
  return {
    secret,
    current: version(settings.current),
    retiring: settings.retiring === undefined ? undefined : version(settings.retiring),
  };
}
