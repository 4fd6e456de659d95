/**
 * The pipeline, declared once: every topic, every subscription and how it delivers, every
 * component (the ingress, the three workers, the API) and what each reads, writes and
 * publishes.
 *
 *   ingress ──publishes──> audio ──persistAudio──> persist-audio ─┐ writes bucket + database,
 *           ──publishes──> events ──events───────> events ────────┤ publish extraction (they
 *                                                                 │ complete finalization)
 *   extraction ──extractSpeakers──> extract-speakers              │ and dead letters
 *   deadLetter ──deadLetter (pull)──> an operator (`npm run dead-letters`)
 *   api: reads bucket + database; a DELETE writes the tombstone and publishes deletion
 *   deletion ──deletion──> delete-data: purges a conversation or a person, runs retention
 *   notifications ──notificationsRecent (pull)──> the console; app backends subscribe too
 *
 * Everything else derives from this module and spells none of these facts again:
 * functions/workers.ts (which handler serves which subscription), ./pipeline-permissions.ts
 * (what each principal is granted), infra/ (the subscriptions, functions and IAM grants of a
 * deployed environment), local/provision.ts and
 * local/push-delivery.ts (the same subscriptions on the emulators, pushing to the same
 * functions). The derivations take the
 * declaration as a parameter, so a test can change it and watch all of them change together.
 *
 * Delivery is at least once, unordered and concurrent everywhere: no subscription is
 * ordered, and no consumer may rely on order. A worker retries a transient failure for as
 * long as it lasts (it nacks; Pub/Sub redelivers with backoff); a message that can never
 * succeed is published to the dead-letter topic by the worker itself, with the reason. So
 * no worker subscription carries an automatic dead-letter policy: one would ack away,
 * after a fixed number of attempts, data a client was told is durable.
 */
import type { DeployableNames, EnvironmentResources } from "./environment";

export type TopicKey = keyof EnvironmentResources["topics"];
export type SubscriptionKey = keyof EnvironmentResources["subscriptions"];
/** A component has one service account; the keys are those of the naming module. */
export type ComponentKey = keyof EnvironmentResources["serviceAccounts"];
export type FunctionKey = keyof DeployableNames["functions"];
export type ServiceKey = keyof DeployableNames["services"];

/** Where a subscription is created: Google Cloud, or the emulators of the local stack. */
export type Site = "deployed" | "local";

/** Exponential redelivery backoff after a failed delivery. */
export interface Backoff {
  readonly minimumSeconds: number;
  readonly maximumSeconds: number;
}

/** A subscription's backoff where it is deployed, and on the emulator (none: its own redelivery). */
export interface SiteRetry {
  readonly deployed: Backoff;
  readonly local: Backoff | undefined;
}

export interface SubscriptionDeclaration {
  readonly topic: TopicKey;
  /** Deliver one ordering key's messages one at a time, in order. */
  readonly ordered: boolean;
  /**
   * How long a delivery may take before Pub/Sub delivers the message again. For a push
   * subscription it is also the request timeout, so the worker's function timeout equals it.
   */
  readonly ackDeadlineSeconds: number;
  /** Redelivery backoff after a failure, per site; `undefined`: Pub/Sub's immediate redelivery. */
  readonly retry: SiteRetry | undefined;
  /**
   * Pub/Sub's own dead-lettering: after this many failed deliveries the message moves to
   * `topic`. `undefined`: never; the message is redelivered until it succeeds.
   */
  readonly deadLetter: { readonly topic: TopicKey; readonly maxDeliveryAttempts: number } | undefined;
  /** How long an unacknowledged message is kept (on the emulator at most its limit of 7 days). */
  readonly retentionSeconds: number;
  /** Who reads it when no worker does. */
  readonly purpose: string;
}

/** An access level on the environment's Firestore database or its audio bucket. */
export type AccessLevel = "none" | "read" | "readWrite";

export interface Access {
  /** The environment's Firestore database. */
  readonly database: AccessLevel;
  /** The environment's audio bucket. */
  readonly bucket: AccessLevel;
  /** Topics it publishes to. */
  readonly publishes: readonly TopicKey[];
  /** Reads the token-signing key (verifies client tokens, signs resume tokens). */
  readonly tokenSecret: boolean;
}

/** A Pub/Sub worker: a Cloud Function pushed to by its subscription (locally as deployed). */
export interface WorkerDeclaration extends Access {
  readonly kind: "worker";
  /** Its name in log lines, dead letters (`rejected_by`) and a conversation's history. */
  readonly name: string;
  /** The functions-framework target functions/index.ts registers, and the Cloud Function's entry point. */
  readonly entryPoint: string;
  readonly function: FunctionKey;
  /** The subscription that delivers to it; the worker reads that subscription's topic. */
  readonly subscription: SubscriptionKey;
}

/** A Cloud Run service (the ingress, the API). */
export interface ServiceDeclaration extends Access {
  readonly kind: "service";
  readonly service: ServiceKey;
}

export type ComponentDeclaration = WorkerDeclaration | ServiceDeclaration;

export interface Pipeline {
  readonly topics: Readonly<Record<TopicKey, { readonly carries: string }>>;
  readonly subscriptions: Readonly<Record<SubscriptionKey, SubscriptionDeclaration>>;
  readonly components: Readonly<Record<ComponentKey, ComponentDeclaration>>;
}

/**
 * Worker redelivery: from 10 s up to 10 min when deployed. Locally none: the emulator pushes
 * a failed message again after about 1 s, so a test or a chaos run sees a retried failure
 * succeed within seconds, while with any retry policy it stops pushing a message after two
 * or three failures under load (local/push-delivery.ts).
 */
const WORKER_RETRY: SiteRetry = {
  deployed: { minimumSeconds: 10, maximumSeconds: 600 },
  local: undefined,
};

/** The longest Pub/Sub keeps an unacknowledged message (31 days): a retried message outlives any outage. */
const LONGEST_RETENTION_SECONDS = 31 * 24 * 3600;
/** The Pub/Sub emulator still refuses more than Pub/Sub's former limit of 7 days. */
const EMULATOR_LONGEST_RETENTION_SECONDS = 7 * 24 * 3600;

export const PIPELINE: Pipeline = {
  topics: {
    audio: { carries: "audio chunks of a conversation, one message per durable chunk" },
    events: { carries: "segments, speaker assignments and finalize events" },
    extraction: { carries: "requests to run speaker extraction for a conversation" },
    deadLetter: { carries: "messages no worker can ever process, tagged with why (rejection_* attributes)" },
    deletion: { carries: "requests to delete a conversation or a person, and the retention sweep's trigger" },
    notifications: { carries: "lifecycle CloudEvents for app backends: finalized, extraction done/failed, deleted" },
  },
  subscriptions: {
    persistAudio: {
      topic: "audio",
      ordered: false,
      ackDeadlineSeconds: 300,
      retry: WORKER_RETRY,
      deadLetter: undefined,
      retentionSeconds: LONGEST_RETENTION_SECONDS,
      purpose: "feeds the persist-audio worker",
    },
    events: {
      topic: "events",
      ordered: false,
      ackDeadlineSeconds: 300,
      retry: WORKER_RETRY,
      deadLetter: undefined,
      retentionSeconds: LONGEST_RETENTION_SECONDS,
      purpose: "feeds the events worker",
    },
    extractSpeakers: {
      topic: "extraction",
      ordered: false,
      ackDeadlineSeconds: 540,
      retry: WORKER_RETRY,
      deadLetter: undefined,
      retentionSeconds: LONGEST_RETENTION_SECONDS,
      purpose: "feeds the speaker-extraction worker",
    },
    deadLetter: {
      topic: "deadLetter",
      ordered: false,
      ackDeadlineSeconds: 60,
      retry: undefined,
      deadLetter: undefined,
      retentionSeconds: LONGEST_RETENTION_SECONDS,
      purpose: "keeps dead letters until an operator lists and replays or drops them (npm run dead-letters)",
    },
    deletion: {
      topic: "deletion",
      ordered: false,
      ackDeadlineSeconds: 300,
      retry: WORKER_RETRY,
      deadLetter: undefined,
      retentionSeconds: LONGEST_RETENTION_SECONDS,
      purpose: "feeds the delete-data worker",
    },
    notificationsRecent: {
      topic: "notifications",
      ordered: false,
      ackDeadlineSeconds: 10,
      retry: undefined,
      deadLetter: undefined,
      // "Recent": an operator peeks at it without acknowledging; a day is plenty to look back.
      retentionSeconds: 24 * 3600,
      purpose: "the recent notifications an operator reads (the console); app backends make their own subscription",
    },
  },
  components: {
    ingress: {
      kind: "service",
      service: "ingress",
      database: "readWrite",
      bucket: "none",
      publishes: ["audio", "events"],
      tokenSecret: true,
    },
    persistAudio: {
      kind: "worker",
      name: "persist-audio",
      entryPoint: "persistAudio",
      function: "persistAudio",
      subscription: "persistAudio",
      database: "readWrite",
      bucket: "readWrite",
      publishes: ["extraction", "deadLetter", "notifications"],
      tokenSecret: false,
    },
    events: {
      kind: "worker",
      name: "events",
      entryPoint: "processEvents",
      function: "processEvents",
      subscription: "events",
      database: "readWrite",
      bucket: "none",
      // `deletion`: a conversation deleted while an event was applied is purged again there.
      publishes: ["extraction", "deadLetter", "notifications", "deletion"],
      tokenSecret: false,
    },
    extractSpeakers: {
      kind: "worker",
      name: "extract-speakers",
      entryPoint: "extractSpeakers",
      function: "extractSpeakers",
      subscription: "extractSpeakers",
      database: "readWrite",
      bucket: "readWrite",
      publishes: ["deadLetter", "notifications"],
      tokenSecret: false,
    },
    // A DELETE writes the tombstone itself (so the conversation answers 404 and 4410 at
    // once) and leaves the purge to the delete-data worker: the API never deletes data.
    api: {
      kind: "service",
      service: "api",
      database: "readWrite",
      bucket: "read",
      publishes: ["deletion"],
      tokenSecret: true,
    },
    deletion: {
      kind: "worker",
      name: "delete-data",
      entryPoint: "deleteData",
      function: "deleteData",
      subscription: "deletion",
      database: "readWrite",
      bucket: "readWrite",
      // `deletion`: the retention sweep continues in a next message when a run has more to do.
      publishes: ["deletion", "deadLetter", "notifications"],
      tokenSecret: false,
    },
  },
};

// ---------------------------------------------------------------------------------------
// Derived views: pure functions of a declaration.

/** A worker with its subscription resolved. */
export interface WorkerView extends WorkerDeclaration {
  readonly component: ComponentKey;
  /** The topic it reads, through its subscription. */
  readonly topic: TopicKey;
  readonly delivery: SubscriptionDeclaration;
}

export function workersOf(pipeline: Pipeline): WorkerView[] {
  return (Object.entries(pipeline.components) as [ComponentKey, ComponentDeclaration][]).flatMap(
    ([component, declaration]) => {
      if (declaration.kind !== "worker") return [];
      const delivery = pipeline.subscriptions[declaration.subscription];
      return [{ ...declaration, component, topic: delivery.topic, delivery }];
    },
  );
}

/** A worker's name in log lines, dead letters and a conversation's history. */
export function workerName(component: ComponentKey, pipeline: Pipeline = PIPELINE): string {
  const declaration = pipeline.components[component];
  if (declaration.kind !== "worker") throw new Error(`${component} is not a worker`);
  return declaration.name;
}

/** The one worker a subscription delivers to, if any (an operator pulls the others). */
export function workerOfSubscription(pipeline: Pipeline, subscription: SubscriptionKey): WorkerView | undefined {
  return workersOf(pipeline).find((worker) => worker.subscription === subscription);
}

/**
 * The path of a worker's push endpoint, after the function's URL. The functions framework
 * turns a Pub/Sub push into a CloudEvent only when the path names the topic this way.
 */
export function pushPath(projectId: string, topicName: string): string {
  return `/projects/${projectId}/topics/${topicName}`;
}

/** What a subscription is created with at one site. */
export interface SubscriptionSettings {
  readonly key: SubscriptionKey;
  readonly topic: TopicKey;
  readonly ordered: boolean;
  readonly ackDeadlineSeconds: number;
  readonly retry: Backoff | undefined;
  readonly deadLetter: SubscriptionDeclaration["deadLetter"];
  readonly retentionSeconds: number;
  /** Pushes to this worker (deployed and local); `undefined`: an operator pulls. */
  readonly worker: WorkerView | undefined;
}

export function subscriptionSettings(pipeline: Pipeline, site: Site): SubscriptionSettings[] {
  return (Object.entries(pipeline.subscriptions) as [SubscriptionKey, SubscriptionDeclaration][]).map(
    ([key, declaration]) => ({
      key,
      topic: declaration.topic,
      ordered: declaration.ordered,
      ackDeadlineSeconds: declaration.ackDeadlineSeconds,
      retry: declaration.retry?.[site],
      deadLetter: declaration.deadLetter,
      retentionSeconds:
        site === "local"
          ? Math.min(declaration.retentionSeconds, EMULATOR_LONGEST_RETENTION_SECONDS)
          : declaration.retentionSeconds,
      worker: workerOfSubscription(pipeline, key),
    }),
  );
}

/**
 * Consistency rules a declaration must keep; returns what is wrong (empty when sound).
 * Every subscription is read by at most one worker, each worker has its own function, and
 * Pub/Sub's limits hold (ack deadline 10..600 s, retention 10 min..31 days).
 */
export function pipelineProblems(pipeline: Pipeline): string[] {
  const problems: string[] = [];
  const workers = workersOf(pipeline);
  const seen = (values: readonly string[], what: string) => {
    const dupes = values.filter((v, i) => values.indexOf(v) !== i);
    for (const dupe of new Set(dupes)) problems.push(`${what} ${dupe} is used by more than one worker`);
  };
  seen(
    workers.map((w) => w.subscription),
    "subscription",
  );
  seen(
    workers.map((w) => w.function),
    "function",
  );
  seen(
    workers.map((w) => w.entryPoint),
    "entry point",
  );
  for (const [key, s] of Object.entries(pipeline.subscriptions)) {
    if (s.ackDeadlineSeconds < 10 || s.ackDeadlineSeconds > 600) problems.push(`${key}: ack deadline out of 10..600 s`);
    if (s.retentionSeconds < 600 || s.retentionSeconds > LONGEST_RETENTION_SECONDS) {
      problems.push(`${key}: retention out of 10 min..31 days`);
    }
    if (s.deadLetter !== undefined && s.deadLetter.topic === s.topic)
      problems.push(`${key}: dead-letters to its own topic`);
  }
  return problems;
}
