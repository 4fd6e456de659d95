/**
 * Settings, read from environment variables and validated once at start-up.
 *
 * Every deployable (ingress, workers, API) calls `loadSettings()` before it serves
 * anything. A bad or missing variable fails fast with a message that names it.
 */
import { z } from "zod";
import { ConfigError } from "./config-error";
import { type EnvironmentResources, environmentNameSchema, environmentResources, projectIdSchema } from "./environment";
import { type ExtractionSettings, loadExtractionSettings } from "./extraction-settings";
import { keyIdSchema, type TokenKeys } from "./token-keys";
import { DEFAULT_USER_LIMITS, type UserLimits } from "./user-limits";

const tokenSecret = z.string().min(16, { message: "must be at least 16 characters" });
const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);
const atLeastOne = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

/**
 * Seconds of audio per durable chunk unless a stack sets `tether:chunkSeconds`: per-chunk
 * work (the ingress's durable position, persist-audio's object, index and read) halves from
 * 5 s, for an ack up to one chunk later (infra/README.md, bench/NOTES.md).
 */
export const DEFAULT_CHUNK_SECONDS = 10;

/** The variables tether reads, with their defaults. */
export const settingsSchema = z.object({
  TETHER_ENVIRONMENT: environmentNameSchema,
  TETHER_PROJECT_ID: projectIdSchema,
  /**
   * Optional: the bucket the platform wired in. When set it must be the bucket the naming
   * rules give this environment, so a function can never be pointed at another
   * environment's bucket by a configuration slip.
   */
  TETHER_BUCKET: z.string().min(3).optional(),
  /** HS256 key used to verify client tokens and sign resume tokens (the current key). */
  TETHER_TOKEN_SECRET: tokenSecret.optional(),
  /** The current key's `kid` (deployed: always set); tokens without a `kid` verify with the current key. */
  TETHER_TOKEN_KID: keyIdSchema.optional(),
  /** A key being retired, with its `kid`: still verified, never used to sign (infra/README.md, rotation). */
  TETHER_TOKEN_RETIRING_SECRET: tokenSecret.optional(),
  TETHER_TOKEN_RETIRING_KID: keyIdSchema.optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Address the ingress and API listen on (Cloud Run: all interfaces). */
  HOST: z.string().min(1).default("0.0.0.0"),
  /** Audio becomes durable in chunks of this many seconds. */
  TETHER_CHUNK_SECONDS: seconds(DEFAULT_CHUNK_SECONDS),
  /** A conversation with no audio for this long is finalized by the server. */
  TETHER_IDLE_TIMEOUT_SECONDS: seconds(120),
  /**
   * A socket's maximum life: the ingress sends `goaway` before it, and closes the socket at
   * it. Deployed, a little under Cloud Run's request timeout (infra/ingress.ts sets it).
   */
  TETHER_MAX_SOCKET_SECONDS: seconds(3480),
  /** Optional hosted speaker-embedding service. */
  TETHER_EMBEDDING_URL: z.url().optional(),
  /** Per-user limits (PROTOCOL.md close code 4429, shared/user-limits.ts). */
  TETHER_MAX_LIVE_SOCKETS_PER_USER: atLeastOne(DEFAULT_USER_LIMITS.live_sockets),
  TETHER_MAX_CONVERSATIONS_PER_MINUTE: atLeastOne(DEFAULT_USER_LIMITS.conversations_per_minute),
  TETHER_MAX_CONVERSATION_SECONDS: atLeastOne(DEFAULT_USER_LIMITS.conversation_audio_seconds),
  TETHER_MAX_SEGMENTS_PER_CONVERSATION: atLeastOne(DEFAULT_USER_LIMITS.conversation_segments),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});

export type RawSettings = z.infer<typeof settingsSchema>;

export interface Settings {
  readonly resources: EnvironmentResources;
  /** The token-signing keys, when this component was given them. */
  readonly tokenKeys: TokenKeys | undefined;
  readonly port: number;
  readonly host: string;
  readonly chunkSeconds: number;
  readonly idleTimeoutSeconds: number;
  readonly maxSocketSeconds: number;
  readonly embeddingUrl: string | undefined;
  readonly logLevel: RawSettings["LOG_LEVEL"];
  /** Per-user limits, refused with 4429 by the ingress. */
  readonly userLimits: UserLimits;
  /** Speaker-extraction thresholds (TETHER_EXTRACTION_* variables, see extraction-settings.ts). */
  readonly extraction: ExtractionSettings;
}

export { ConfigError };

type Source = Readonly<Record<string, string | undefined>>;

/** Reads and validates settings; throws `ConfigError` naming every bad variable. */
export function loadSettings(source: Source = process.env): Settings {
  const input = {
    ...source,
    // Cloud Functions and Cloud Run set GOOGLE_CLOUD_PROJECT; accept it as the fallback.
    TETHER_PROJECT_ID: source.TETHER_PROJECT_ID ?? source.GOOGLE_CLOUD_PROJECT,
  };
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = issue.path.join(".") || "(settings)";
      const got = input[variable as keyof typeof input];
      const shown = got === undefined ? "it is not set" : `got ${JSON.stringify(got)}`;
      return `${variable} ${issue.message} (${shown})`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join("; ")}`);
  }
  const raw = parsed.data;
  const resources = environmentResources(raw.TETHER_ENVIRONMENT, raw.TETHER_PROJECT_ID);
  if (raw.TETHER_BUCKET !== undefined && raw.TETHER_BUCKET !== resources.bucket) {
    throw new ConfigError(
      `Invalid configuration: TETHER_BUCKET is ${JSON.stringify(raw.TETHER_BUCKET)}, but environment ` +
        `${raw.TETHER_ENVIRONMENT} in project ${raw.TETHER_PROJECT_ID} stores audio only in ${JSON.stringify(resources.bucket)}`,
    );
  }
  if ((raw.TETHER_TOKEN_RETIRING_SECRET === undefined) !== (raw.TETHER_TOKEN_RETIRING_KID === undefined)) {
    throw new ConfigError(
      "Invalid configuration: TETHER_TOKEN_RETIRING_SECRET and TETHER_TOKEN_RETIRING_KID are set together or not at all",
    );
  }
  if (raw.TETHER_TOKEN_RETIRING_KID !== undefined && raw.TETHER_TOKEN_RETIRING_KID === raw.TETHER_TOKEN_KID) {
    throw new ConfigError("Invalid configuration: TETHER_TOKEN_RETIRING_KID must differ from TETHER_TOKEN_KID");
  }
  return {
    resources,
    tokenKeys: tokenKeysFrom(raw),
    port: raw.PORT,
    host: raw.HOST,
    chunkSeconds: raw.TETHER_CHUNK_SECONDS,
    idleTimeoutSeconds: raw.TETHER_IDLE_TIMEOUT_SECONDS,
    maxSocketSeconds: raw.TETHER_MAX_SOCKET_SECONDS,
    embeddingUrl: raw.TETHER_EMBEDDING_URL,
    logLevel: raw.LOG_LEVEL,
    userLimits: {
      live_sockets: raw.TETHER_MAX_LIVE_SOCKETS_PER_USER,
      conversations_per_minute: raw.TETHER_MAX_CONVERSATIONS_PER_MINUTE,
      conversation_audio_seconds: raw.TETHER_MAX_CONVERSATION_SECONDS,
      conversation_segments: raw.TETHER_MAX_SEGMENTS_PER_CONVERSATION,
    },
    extraction: loadExtractionSettings(source),
  };
}

function tokenKeysFrom(raw: RawSettings): TokenKeys | undefined {
  if (raw.TETHER_TOKEN_SECRET === undefined) return undefined;
  const retiring =
    raw.TETHER_TOKEN_RETIRING_SECRET === undefined
      ? []
      : [{ kid: raw.TETHER_TOKEN_RETIRING_KID, secret: raw.TETHER_TOKEN_RETIRING_SECRET }];
  return { current: { kid: raw.TETHER_TOKEN_KID, secret: raw.TETHER_TOKEN_SECRET }, retiring };
}

/** For components that sign or verify tokens: the key set, or a clear error. */
export function requireTokenKeys(settings: Settings): TokenKeys {
  if (settings.tokenKeys === undefined) {
    throw new ConfigError("Invalid configuration: TETHER_TOKEN_SECRET is required by this component (it is not set)");
  }
  return settings.tokenKeys;
}
