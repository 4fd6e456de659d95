/**
 * Creates one environment's Pub/Sub topics and subscriptions and its bucket on the
 * emulators, as the pipeline declaration (shared/pipeline.ts) states them for the local
 * site. infra/ reads the same declaration for the deployed site, so topics, ordering, ack
 * deadlines and dead-letter policies agree; the local site differs in its retry backoff and
 * in retention, capped at the emulator's longest. Safe to run twice.
 */
import type { PubSub } from "@google-cloud/pubsub";
import type { EnvironmentResources } from "../shared/environment";
import type { GcpClients } from "../shared/gcp-clients";
import { GrpcStatus, hasGrpcStatus } from "../shared/grpc-error";
import { PIPELINE, type Pipeline, subscriptionSettings } from "../shared/pipeline";

/**
 * The object that makes a local bucket exist (the storage emulator creates a bucket with
 * its first object) and names the environment it belongs to. Nothing reads it.
 */
export const BUCKET_MARKER_OBJECT = "tether-environment.json";

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
    if (!hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS)) throw error;
  }
}

async function ensureSubscription(pubsub: PubSub, subscription: LocalSubscription): Promise<void> {
  try {
    await pubsub.topic(subscription.topic).createSubscription(subscription.name, { ...subscription.options });
  } catch (error) {
    if (!hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS)) throw error;
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
