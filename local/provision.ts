/**
 * Creates one environment's Pub/Sub topics and subscriptions and its bucket on the
 * emulators, as the pipeline declaration (shared/pipeline.ts) states them for the local
 * site: the same topics, ordering, ack deadlines, dead-letter policies and retention as
 * infra/ deploys, with the local retry backoff. Safe to run twice.
 */
import type { PubSub } from "@google-cloud/pubsub";
import type { EnvironmentResources } from "../shared/environment";
import type { GcpClients } from "../shared/gcp-clients";
import { PIPELINE, type Pipeline, subscriptionSettings } from "../shared/pipeline";

/** The object that marks a bucket as an environment's own; workers may check it. */
export const BUCKET_MARKER_OBJECT = "tether-environment.json";

const ALREADY_EXISTS = 6;

function isAlreadyExists(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === ALREADY_EXISTS;
}

/** One subscription as the emulator's admin API takes it. */
export interface LocalSubscription {
  readonly name: string;
  readonly topic: string;
  readonly options: {
    readonly ackDeadlineSeconds: number;
    readonly enableMessageOrdering: boolean;
    readonly messageRetentionDuration: { readonly seconds: number };
    readonly retryPolicy?: {
      readonly minimumBackoff: { readonly seconds: number };
      readonly maximumBackoff: { readonly seconds: number };
    };
    readonly deadLetterPolicy?: { readonly deadLetterTopic: string; readonly maxDeliveryAttempts: number };
  };
}

/** What `provisionEnvironment` creates: a pure function of the names and the declaration. */
export function localProvisioning(
  resources: EnvironmentResources,
  pipeline: Pipeline = PIPELINE,
): { topics: string[]; subscriptions: LocalSubscription[] } {
  const topicPath = (name: string) => `projects/${resources.projectId}/topics/${name}`;
  const subscriptions = subscriptionSettings(pipeline, "local").map(
    (s): LocalSubscription => ({
      name: resources.subscriptions[s.key],
      topic: resources.topics[s.topic],
      options: {
        ackDeadlineSeconds: s.ackDeadlineSeconds,
        enableMessageOrdering: s.ordered,
        messageRetentionDuration: { seconds: s.retentionSeconds },
        ...(s.retry === undefined
          ? {}
          : {
              retryPolicy: {
                minimumBackoff: { seconds: s.retry.minimumSeconds },
                maximumBackoff: { seconds: s.retry.maximumSeconds },
              },
            }),
        ...(s.deadLetter === undefined
          ? {}
          : {
              deadLetterPolicy: {
                deadLetterTopic: topicPath(resources.topics[s.deadLetter.topic]),
                maxDeliveryAttempts: s.deadLetter.maxDeliveryAttempts,
              },
            }),
      },
    }),
  );
  const topics = (Object.keys(pipeline.topics) as (keyof EnvironmentResources["topics"])[]).map(
    (key) => resources.topics[key],
  );
  return { topics, subscriptions };
}

async function ensureTopic(pubsub: PubSub, name: string): Promise<void> {
  try {
    await pubsub.createTopic(name);
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
}

async function ensureSubscription(pubsub: PubSub, subscription: LocalSubscription): Promise<void> {
  try {
    await pubsub.topic(subscription.topic).createSubscription(subscription.name, { ...subscription.options });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
}

export async function provisionEnvironment(
  resources: EnvironmentResources,
  clients: GcpClients,
  pipeline: Pipeline = PIPELINE,
): Promise<void> {
  const { pubsub } = clients;
  const plan = localProvisioning(resources, pipeline);
  await Promise.all(plan.topics.map((topic) => ensureTopic(pubsub, topic)));
  await Promise.all(plan.subscriptions.map((subscription) => ensureSubscription(pubsub, subscription)));
  // The storage emulator cannot create buckets; a bucket exists once it holds an object.
  await clients.bucket
    .file(BUCKET_MARKER_OBJECT)
    .save(JSON.stringify({ environment: resources.environment, project_id: resources.projectId }), {
      resumable: false,
      contentType: "application/json",
    });
}
