/**
 * The one place that names an environment's resources.
 *
 * Ingress, workers, the HTTP API, the local stack, the Pulumi program and the tests all
 * derive topic, subscription, bucket, database, account and secret names from here, so a
 * writer and a reader can never disagree about where a conversation lives.
 */
import { z } from "zod";
import { describeIssue } from "./schema-issues";

/** PROTOCOL.md section 1: an environment name. */
export const ENVIRONMENT_NAME_PATTERN = /^[a-z][a-z0-9-]{1,19}$/;

export const environmentNameSchema = z
  .string()
  .regex(ENVIRONMENT_NAME_PATTERN, {
    message: `must match ${ENVIRONMENT_NAME_PATTERN.source} (lower-case letters, digits and '-', 2 to 20 characters, starting with a letter)`,
  })
  .brand<"EnvironmentName">();

export type EnvironmentName = z.infer<typeof environmentNameSchema>;

/** Parses an environment name, throwing an error that quotes the rule. */
export function parseEnvironmentName(value: string): EnvironmentName {
  const result = environmentNameSchema.safeParse(value);
  if (!result.success) {
    throw new Error(`Invalid environment name ${JSON.stringify(value)}: ${describeIssue(result.error)}`);
  }
  return result.data;
}

/** GCP project ids: 6 to 30 characters, lower-case letters, digits and hyphens. */
export const projectIdSchema = z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, {
  message: "must be a GCP project id (6 to 30 lower-case letters, digits or '-', starting with a letter)",
});

export interface EnvironmentResources {
  readonly environment: EnvironmentName;
  readonly projectId: string;
  /** Firestore database id (a named database per environment). */
  readonly databaseId: string;
  /** The environment's single audio bucket. */
  readonly bucket: string;
  readonly topics: {
    /** Audio chunks, ordered by conversation id. */
    readonly audio: string;
    /** Segments, speaker assignments and finalize events. */
    readonly events: string;
    /** Requests to run speaker extraction for a conversation. */
    readonly extraction: string;
    /** Messages no worker may process: kept here, visible, never acked away. */
    readonly deadLetter: string;
    /** Requests to delete a conversation or a person, and the retention sweep's trigger. */
    readonly deletion: string;
    /** Lifecycle CloudEvents for app backends (PROTOCOL section 3, Notifications). */
    readonly notifications: string;
  };
  readonly subscriptions: {
    readonly persistAudio: string;
    readonly events: string;
    readonly extractSpeakers: string;
    /** Holds dead-lettered messages so an operator can read them. */
    readonly deadLetter: string;
    readonly deletion: string;
    /** The recent notifications an operator (the console) reads; app backends make their own. */
    readonly notificationsRecent: string;
  };
  /** Service account ids (the part before '@'), one per component. */
  readonly serviceAccounts: {
    readonly ingress: string;
    readonly persistAudio: string;
    readonly events: string;
    readonly extractSpeakers: string;
    readonly api: string;
    readonly deletion: string;
  };
  /** Secret Manager secret holding the environment's token-signing key. */
  readonly tokenSecret: string;
  /** How the environment is deployed: its functions, Cloud Run services and source bucket. */
  readonly deployables: DeployableNames;
  /** How the environment is watched: its log-based metrics, alert policies and dashboard. */
  readonly monitoring: {
    /** Prefix of every log-based metric id (`tether-<env>-dead-letters`, ...). */
    readonly metricPrefix: string;
    /** Prefix of every display name: alert policies, notification channel, dashboard. */
    readonly displayPrefix: string;
  };
}

export interface DeployableNames {
  readonly functions: {
    readonly persistAudio: string;
    readonly processEvents: string;
    readonly extractSpeakers: string;
    readonly deleteData: string;
  };
  readonly services: {
    readonly ingress: string;
    readonly api: string;
  };
  /** Holds the zipped function source that Cloud Build reads; nothing of a conversation. */
  readonly functionSourceBucket: string;
  /** Artifact Registry repository the functions' builds push their images to. */
  readonly functionImageRepository: string;
  /** Service account ids the functions' builds run as, one per function. */
  readonly buildServiceAccounts: { readonly [F in keyof DeployableNames["functions"]]: string };
}

/** Every resource name of one environment in one GCP project. */
export function environmentResources(environment: EnvironmentName, projectId: string): EnvironmentResources {
  const prefix = `tether-${environment}`;
  return {
    environment,
    projectId,
    databaseId: prefix,
    bucket: `${projectId}-${environment}-audio`,
    topics: {
      audio: `${prefix}-audio`,
      events: `${prefix}-events`,
      extraction: `${prefix}-extraction`,
      deadLetter: `${prefix}-dead-letter`,
      deletion: `${prefix}-deletion`,
      notifications: `${prefix}-notifications`,
    },
    subscriptions: {
      persistAudio: `${prefix}-persist-audio`,
      events: `${prefix}-events-worker`,
      extractSpeakers: `${prefix}-extract-speakers`,
      deadLetter: `${prefix}-dead-letter-store`,
      deletion: `${prefix}-delete-data`,
      notificationsRecent: `${prefix}-notifications-recent`,
    },
    serviceAccounts: {
      ingress: `${environment}-ingress`,
      persistAudio: `${environment}-persist`,
      events: `${environment}-events`,
      extractSpeakers: `${environment}-extract`,
      api: `${environment}-api`,
      deletion: `${environment}-delete`,
    },
    tokenSecret: `${prefix}-token-key`,
    // Cloud Run service names <= 49 characters (a gen2 function is also a service), so
    // these fit the longest environment name.
    deployables: {
      functions: {
        persistAudio: `${prefix}-persist-audio`,
        processEvents: `${prefix}-process-events`,
        extractSpeakers: `${prefix}-extract-speakers`,
        deleteData: `${prefix}-delete-data`,
      },
      services: { ingress: `${prefix}-ingress`, api: `${prefix}-api` },
      functionSourceBucket: `${projectId}-${environment}-functions`,
      functionImageRepository: `${prefix}-functions`,
      // "b-": an account id has at most 30 characters.
      buildServiceAccounts: {
        persistAudio: `${environment}-b-persist`,
        processEvents: `${environment}-b-events`,
        extractSpeakers: `${environment}-b-extract`,
        deleteData: `${environment}-b-delete`,
      },
    },
    monitoring: { metricPrefix: `${prefix}-`, displayPrefix: `tether ${environment}` },
  };
}

/** The project id an environment uses on the local emulators. */
export function localProjectId(environment: EnvironmentName): string {
  return `tether-${environment}`;
}
