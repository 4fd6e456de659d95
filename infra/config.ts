/**
 * Stack configuration: read once, validated with zod, every error naming its config key.
 *
 * The environment is the stack name (`dev`, `staging`, `prod`): it is never configured
 * separately, so a stack cannot deploy one environment's names into another. The project
 * and region are required keys with no fallback: an unset `gcp:project` fails here rather
 * than deploying into whatever project the operator's gcloud happens to point at.
 */
import path from "node:path";
import { z } from "zod";
import { settingsSchema } from "../shared/config";
import { type EnvironmentName, parseEnvironmentName, projectIdSchema } from "../shared/environment";
import { keyIdSchema } from "../shared/token-keys";

/** Reads one configuration value by its full key (`gcp:project`, `tether:image`), raw. */
export type ConfigReader = (key: string) => string | undefined;

export class StackConfigError extends Error {
  override name = "StackConfigError";
}

/** How long audio stays in the hot storage class (deletion is retention's: `retentionDays`). */
export interface AudioLifecycle {
  /** Move objects to COLDLINE this many days after creation; unset: never. */
  readonly coldlineAfterDays: number | undefined;
}

/**
 * Settings passed through to the deployables as environment variables (see
 * shared/config.ts). Unset keys are not passed, so the code's defaults apply.
 */
export interface DeployableTuning {
  readonly TETHER_CHUNK_SECONDS?: string;
  readonly TETHER_IDLE_TIMEOUT_SECONDS?: string;
  readonly TETHER_EMBEDDING_URL?: string;
  readonly LOG_LEVEL?: string;
  readonly TETHER_MAX_LIVE_SOCKETS_PER_USER?: string;
  readonly TETHER_MAX_CONVERSATIONS_PER_MINUTE?: string;
  readonly TETHER_MAX_CONVERSATION_SECONDS?: string;
  readonly TETHER_MAX_SEGMENTS_PER_CONVERSATION?: string;
}

/**
 * Where the environment's alerts go: an email address, or a Pub/Sub topic (for a pager or
 * chat integration). Set as `email:<address>` or `pubsub:projects/<project>/topics/<topic>`.
 */
export type AlertChannel =
  | { readonly kind: "email"; readonly address: string }
  | { readonly kind: "pubsub"; readonly topic: string };

export interface StackConfig {
  readonly environment: EnvironmentName;
  readonly projectId: string;
  readonly region: string;
  /** Container image of the ingress and the API, built from this repository's Dockerfile. */
  readonly image: string;
  /** HS256 key for client and resume tokens. Secret: wrap it with `pulumi.secret`. */
  readonly tokenSigningKey: string;
  /** Its `kid` (default `k1`). */
  readonly tokenKeyId: string;
  /** During a rotation, the previous key and its `kid`: still verified, never used to sign. */
  readonly retiringTokenKey: { readonly keyId: string; readonly key: string } | undefined;
  /** Guard the data (bucket, database, secret) against deletion. */
  readonly protect: boolean;
  /** Directory holding `dist/`, `package.json` and `package-lock.json` after `npm run build`. */
  readonly functionSourceDir: string;
  readonly firestoreLocation: string;
  readonly audioLifecycle: AudioLifecycle;
  readonly ingressScaling: { readonly minInstances: number; readonly maxInstances: number };
  readonly tuning: DeployableTuning;
  readonly alertChannel: AlertChannel;
  /**
   * Whether the alert policies on log-based metrics are deployed. `false` for the first
   * `pulumi up` on a blank project: Monitoring learns a new log-based metric minutes after
   * it is created, and a policy naming it fails until then ("Cannot find metric(s)").
   */
  readonly alertPolicies: boolean;
  /** Conversations are deleted this many days after their last change; unset: kept forever. */
  readonly retentionDays: number | undefined;
  /** The service account (email) that may subscribe to the notifications topic; unset: nobody. */
  readonly notificationsSubscriber: string | undefined;
}

/** Every key this program reads, with what a reader of an error message needs to know. */
export const CONFIG_KEYS = {
  project: "gcp:project",
  region: "gcp:region",
  image: "tether:image",
  tokenSigningKey: "tether:tokenSigningKey",
  tokenKeyId: "tether:tokenKeyId",
  retiringTokenSigningKey: "tether:retiringTokenSigningKey",
  retiringTokenKeyId: "tether:retiringTokenKeyId",
  protect: "tether:protect",
  functionSourceDir: "tether:functionSourceDir",
  firestoreLocation: "tether:firestoreLocation",
  audioColdlineAfterDays: "tether:audioColdlineAfterDays",
  retentionDays: "tether:retentionDays",
  notificationsSubscriber: "tether:notificationsSubscriber",
  ingressMinInstances: "tether:ingressMinInstances",
  ingressMaxInstances: "tether:ingressMaxInstances",
  chunkSeconds: "tether:chunkSeconds",
  idleTimeoutSeconds: "tether:idleTimeoutSeconds",
  embeddingUrl: "tether:embeddingUrl",
  logLevel: "tether:logLevel",
  maxLiveSocketsPerUser: "tether:maxLiveSocketsPerUser",
  maxConversationsPerMinute: "tether:maxConversationsPerMinute",
  maxConversationSeconds: "tether:maxConversationSeconds",
  maxSegmentsPerConversation: "tether:maxSegmentsPerConversation",
  alertChannel: "tether:alertChannel",
  alertPolicies: "tether:alertPolicies",
} as const;

/** How to set a required key, shown when it is missing. */
const HOW_TO_SET: Partial<Record<string, string>> = {
  [CONFIG_KEYS.project]: "pulumi config set gcp:project <project-id>",
  [CONFIG_KEYS.region]: "pulumi config set gcp:region <region, e.g. europe-west1>",
  [CONFIG_KEYS.image]:
    "pulumi config set tether:image <region>-docker.pkg.dev/<project>/<repository>/tether@sha256:<digest>",
  [CONFIG_KEYS.tokenSigningKey]: 'pulumi config set --secret tether:tokenSigningKey "$(openssl rand -base64 48)"',
  [CONFIG_KEYS.retiringTokenKeyId]:
    "pulumi config set tether:retiringTokenKeyId <the id the retiring key had as tether:tokenKeyId, e.g. k1>",
  [CONFIG_KEYS.alertChannel]:
    "pulumi config set tether:alertChannel email:<on-call address> (or pubsub:projects/<project>/topics/<topic>)",
};

/** Keys whose values must never appear in an error message. */
const SECRET_KEYS: ReadonlySet<string> = new Set([CONFIG_KEYS.tokenSigningKey, CONFIG_KEYS.retiringTokenSigningKey]);

/** The key id of a stack's first key (and of one deployed before key ids existed). */
export const FIRST_TOKEN_KEY_ID = "k1";

const signingKey = z.string().min(32, { message: "must be at least 32 characters" });

function retiringTokenKey(keyId: string | undefined, key: string | undefined): StackConfig["retiringTokenKey"] {
  return keyId === undefined || key === undefined ? undefined : { keyId, key };
}

const REGION_PATTERN = /^[a-z]+-[a-z]+[0-9]+$/;
/** registry host, repository path, and a tag or a sha256 digest. */
const IMAGE_PATTERN = /^[a-z0-9.-]+(:[0-9]+)?\/[a-z0-9._/-]+(:[A-Za-z0-9_.-]{1,128}|@sha256:[a-f0-9]{64})$/;

const days = (key: string) =>
  z.coerce
    .number({ message: `${key} must be a whole number of days` })
    .int({ message: "must be a whole number of days" })
    .positive({ message: "must be at least 1 day" })
    .optional();

const instances = (fallback: number) =>
  z.coerce
    .number()
    .int({ message: "must be a whole number" })
    .min(0, { message: "must be 0 or more" })
    .default(fallback);

/** A value for one of shared/config.ts's variables: validated by the very schema the code uses. */
const passThrough = (variable: keyof typeof settingsSchema.shape) =>
  z
    .string()
    .optional()
    .superRefine((value, context) => {
      if (value === undefined) return;
      const result = settingsSchema.shape[variable].safeParse(value);
      if (!result.success) {
        context.addIssue({
          code: "custom",
          message: `${result.error.issues[0]?.message ?? "is invalid"} (it becomes ${variable})`,
        });
      }
    });

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PUBSUB_TOPIC_PATTERN = /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$/;

const alertChannel = z.string().transform((value, context): AlertChannel => {
  const [kind, ...rest] = value.split(":");
  const target = rest.join(":");
  if (kind === "email" && EMAIL_PATTERN.test(target)) return { kind: "email", address: target };
  if (kind === "pubsub" && PUBSUB_TOPIC_PATTERN.test(target)) return { kind: "pubsub", topic: target };
  context.addIssue({
    code: "custom",
    message: "must be email:<address> or pubsub:projects/<project>/topics/<topic>",
  });
  return z.NEVER;
});

const booleanString = z
  .enum(["true", "false"], { message: 'must be "true" or "false"' })
  .transform((v) => v === "true");

const stackConfigSchema = z
  .object({
    [CONFIG_KEYS.project]: projectIdSchema,
    [CONFIG_KEYS.region]: z
      .string()
      .regex(REGION_PATTERN, { message: "must be a Google Cloud region such as europe-west1" }),
    [CONFIG_KEYS.image]: z.string().regex(IMAGE_PATTERN, {
      message: "must be a container image reference with a registry, a repository and a tag or @sha256 digest",
    }),
    [CONFIG_KEYS.tokenSigningKey]: signingKey,
    [CONFIG_KEYS.tokenKeyId]: keyIdSchema.default(FIRST_TOKEN_KEY_ID),
    [CONFIG_KEYS.retiringTokenSigningKey]: signingKey.optional(),
    [CONFIG_KEYS.retiringTokenKeyId]: keyIdSchema.optional(),
    [CONFIG_KEYS.protect]: booleanString.default(true),
    [CONFIG_KEYS.functionSourceDir]: z.string().min(1).default("."),
    [CONFIG_KEYS.firestoreLocation]: z.string().min(2).optional(),
    [CONFIG_KEYS.audioColdlineAfterDays]: days(CONFIG_KEYS.audioColdlineAfterDays),
    [CONFIG_KEYS.retentionDays]: days(CONFIG_KEYS.retentionDays),
    [CONFIG_KEYS.notificationsSubscriber]: z
      .string()
      .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/, {
        message: "must be a service account email (<name>@<project>.iam.gserviceaccount.com)",
      })
      .optional(),
    [CONFIG_KEYS.ingressMinInstances]: instances(0),
    [CONFIG_KEYS.ingressMaxInstances]: instances(10),
    [CONFIG_KEYS.chunkSeconds]: passThrough("TETHER_CHUNK_SECONDS"),
    [CONFIG_KEYS.idleTimeoutSeconds]: passThrough("TETHER_IDLE_TIMEOUT_SECONDS"),
    [CONFIG_KEYS.embeddingUrl]: passThrough("TETHER_EMBEDDING_URL"),
    [CONFIG_KEYS.logLevel]: passThrough("LOG_LEVEL"),
    [CONFIG_KEYS.maxLiveSocketsPerUser]: passThrough("TETHER_MAX_LIVE_SOCKETS_PER_USER"),
    [CONFIG_KEYS.maxConversationsPerMinute]: passThrough("TETHER_MAX_CONVERSATIONS_PER_MINUTE"),
    [CONFIG_KEYS.maxConversationSeconds]: passThrough("TETHER_MAX_CONVERSATION_SECONDS"),
    [CONFIG_KEYS.maxSegmentsPerConversation]: passThrough("TETHER_MAX_SEGMENTS_PER_CONVERSATION"),
    [CONFIG_KEYS.alertChannel]: alertChannel,
    [CONFIG_KEYS.alertPolicies]: booleanString.default(true),
  })
  .superRefine((config, context) => {
    const retiringId = config[CONFIG_KEYS.retiringTokenKeyId];
    if ((config[CONFIG_KEYS.retiringTokenSigningKey] === undefined) !== (retiringId === undefined)) {
      context.addIssue({
        code: "custom",
        path: [CONFIG_KEYS.retiringTokenKeyId],
        message: `is set together with ${CONFIG_KEYS.retiringTokenSigningKey}, or neither is`,
      });
    }
    if (retiringId !== undefined && retiringId === config[CONFIG_KEYS.tokenKeyId]) {
      context.addIssue({
        code: "custom",
        path: [CONFIG_KEYS.retiringTokenKeyId],
        message: `must differ from ${CONFIG_KEYS.tokenKeyId}: a rotation gives the new key a new id`,
      });
    }
    const coldline = config[CONFIG_KEYS.audioColdlineAfterDays];
    const deletion = config[CONFIG_KEYS.retentionDays];
    if (coldline !== undefined && deletion !== undefined && coldline >= deletion) {
      context.addIssue({
        code: "custom",
        path: [CONFIG_KEYS.audioColdlineAfterDays],
        message: `must be fewer days than ${CONFIG_KEYS.retentionDays} (${deletion})`,
      });
    }
    if (config[CONFIG_KEYS.ingressMinInstances] > config[CONFIG_KEYS.ingressMaxInstances]) {
      context.addIssue({
        code: "custom",
        path: [CONFIG_KEYS.ingressMinInstances],
        message: `must not exceed ${CONFIG_KEYS.ingressMaxInstances} (${config[CONFIG_KEYS.ingressMaxInstances]})`,
      });
    }
  });

/**
 * Validates the stack's configuration; throws one `StackConfigError` listing every bad key.
 *
 * @param stack the Pulumi stack name, which is the environment name.
 * @param read reads a raw configuration value (`pulumi.runtime.getConfig` in the program).
 * @param repositoryRoot relative `tether:functionSourceDir` values are resolved against it.
 */
export function readStackConfig(stack: string, read: ConfigReader, repositoryRoot: string): StackConfig {
  let environment: EnvironmentName;
  try {
    environment = parseEnvironmentName(stack);
  } catch (error) {
    throw new StackConfigError(
      `Stack ${JSON.stringify(stack)} cannot be deployed: the stack name is the environment name. ${(error as Error).message}`,
    );
  }

  const raw: Record<string, string | undefined> = {};
  for (const key of Object.values(CONFIG_KEYS)) raw[key] = read(key);

  const parsed = stackConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "(configuration)");
      const value = raw[key];
      if (value === undefined) {
        const hint = HOW_TO_SET[key];
        return `${key} is not set${hint === undefined ? "" : `: run \`${hint}\``}`;
      }
      const shown = SECRET_KEYS.has(key) ? "" : ` (got ${JSON.stringify(value)})`;
      return `${key} ${issue.message}${shown}`;
    });
    throw new StackConfigError(`Invalid configuration for stack ${JSON.stringify(stack)}: ${problems.join("; ")}`);
  }

  const config = parsed.data;
  const region = config[CONFIG_KEYS.region];
  const tuning: Record<string, string> = {};
  const passThroughKeys = [
    [CONFIG_KEYS.chunkSeconds, "TETHER_CHUNK_SECONDS"],
    [CONFIG_KEYS.idleTimeoutSeconds, "TETHER_IDLE_TIMEOUT_SECONDS"],
    [CONFIG_KEYS.embeddingUrl, "TETHER_EMBEDDING_URL"],
    [CONFIG_KEYS.logLevel, "LOG_LEVEL"],
    [CONFIG_KEYS.maxLiveSocketsPerUser, "TETHER_MAX_LIVE_SOCKETS_PER_USER"],
    [CONFIG_KEYS.maxConversationsPerMinute, "TETHER_MAX_CONVERSATIONS_PER_MINUTE"],
    [CONFIG_KEYS.maxConversationSeconds, "TETHER_MAX_CONVERSATION_SECONDS"],
    [CONFIG_KEYS.maxSegmentsPerConversation, "TETHER_MAX_SEGMENTS_PER_CONVERSATION"],
  ] as const;
  for (const [key, variable] of passThroughKeys) {
    const value = config[key];
    if (value !== undefined) tuning[variable] = value;
  }

  return {
    environment,
    projectId: config[CONFIG_KEYS.project],
    region,
    image: config[CONFIG_KEYS.image],
    tokenSigningKey: config[CONFIG_KEYS.tokenSigningKey],
    tokenKeyId: config[CONFIG_KEYS.tokenKeyId],
    retiringTokenKey: retiringTokenKey(
      config[CONFIG_KEYS.retiringTokenKeyId],
      config[CONFIG_KEYS.retiringTokenSigningKey],
    ),
    protect: config[CONFIG_KEYS.protect],
    functionSourceDir: path.resolve(repositoryRoot, config[CONFIG_KEYS.functionSourceDir]),
    firestoreLocation: config[CONFIG_KEYS.firestoreLocation] ?? region,
    audioLifecycle: {
      coldlineAfterDays: config[CONFIG_KEYS.audioColdlineAfterDays],
    },
    retentionDays: config[CONFIG_KEYS.retentionDays],
    notificationsSubscriber: config[CONFIG_KEYS.notificationsSubscriber],
    ingressScaling: {
      minInstances: config[CONFIG_KEYS.ingressMinInstances],
      maxInstances: config[CONFIG_KEYS.ingressMaxInstances],
    },
    tuning,
    alertChannel: config[CONFIG_KEYS.alertChannel],
    alertPolicies: config[CONFIG_KEYS.alertPolicies],
  };
}
