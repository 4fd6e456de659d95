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

const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);

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
  /** HS256 key used to verify client tokens and sign resume tokens. */
  TETHER_TOKEN_SECRET: z.string().min(16, { message: "must be at least 16 characters" }).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Address the ingress and API listen on (Cloud Run: all interfaces). */
  HOST: z.string().min(1).default("0.0.0.0"),
  /** Audio becomes durable in chunks of this many seconds. */
  TETHER_CHUNK_SECONDS: seconds(5),
  /** A conversation with no audio for this long is finalized by the server. */
  TETHER_IDLE_TIMEOUT_SECONDS: seconds(120),
  /**
   * A socket's maximum life: the ingress sends `goaway` before it, and closes the socket at
   * it. Deployed, a little under Cloud Run's request timeout (infra/ingress.ts sets it).
   */
  TETHER_MAX_SOCKET_SECONDS: seconds(3480),
  /** Optional hosted speaker-embedding service. */
  TETHER_EMBEDDING_URL: z.url().optional(),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});

export type RawSettings = z.infer<typeof settingsSchema>;

export interface Settings {
  readonly resources: EnvironmentResources;
  readonly tokenSecret: string | undefined;
  readonly port: number;
  readonly host: string;
  readonly chunkSeconds: number;
  readonly idleTimeoutSeconds: number;
  readonly maxSocketSeconds: number;
  readonly embeddingUrl: string | undefined;
  readonly logLevel: RawSettings["LOG_LEVEL"];
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
  return {
    resources,
    tokenSecret: raw.TETHER_TOKEN_SECRET,
    port: raw.PORT,
    host: raw.HOST,
    chunkSeconds: raw.TETHER_CHUNK_SECONDS,
    idleTimeoutSeconds: raw.TETHER_IDLE_TIMEOUT_SECONDS,
    maxSocketSeconds: raw.TETHER_MAX_SOCKET_SECONDS,
    embeddingUrl: raw.TETHER_EMBEDDING_URL,
    logLevel: raw.LOG_LEVEL,
    extraction: loadExtractionSettings(source),
  };
}

/** For components that sign or verify tokens: the key, or a clear error. */
export function requireTokenSecret(settings: Settings): string {
  if (settings.tokenSecret === undefined) {
    throw new ConfigError("Invalid configuration: TETHER_TOKEN_SECRET is required by this component (it is not set)");
  }
  return settings.tokenSecret;
}
