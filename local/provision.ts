/**
 * Creates one environment's Pub/Sub topics and subscriptions and its bucket on the
 * emulators, mirroring what infra/ creates in Google Cloud. Safe to run twice.
 */
import type { PubSub } from "@google-cloud/pubsub";
import type { EnvironmentResources } from "../shared/environment";
import type { GcpClients } from "../shared/gcp-clients";

/** Delivery attempts before a message moves to the dead-letter topic (as in infra/). */
export const MAX_DELIVERY_ATTEMPTS = 5;

/** The object that marks a bucket as an environment's own; workers may check it. */
export const BUCKET_MARKER_OBJECT = "tether-environment.json";

const ALREADY_EXISTS = 6;

function isAlreadyExists(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === ALREADY_EXISTS;
}

async function ensureTopic(pubsub: PubSub, name: string): Promise<void> {
  try {
    await pubsub.createTopic(name);
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
}

async function ensureSubscription(
  pubsub: PubSub,
  topic: string,
  name: string,
  options: { ordered: boolean; deadLetterTopic?: string },
): Promise<void> {
  try {
    await pubsub.topic(topic).createSubscription(name, {
      ackDeadlineSeconds: 60,
      enableMessageOrdering: options.ordered,
      retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 10 } },
      ...(options.deadLetterTopic
        ? {
            deadLetterPolicy: {
              deadLetterTopic: pubsub.topic(options.deadLetterTopic).name,
              maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS,
            },
          }
        : {}),
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
}

export async function provisionEnvironment(resources: EnvironmentResources, clients: GcpClients): Promise<void> {
  const { pubsub } = clients;
  const { topics, subscriptions } = resources;
  await Promise.all(Object.values(topics).map((topic) => ensureTopic(pubsub, topic)));
  await Promise.all([
    ensureSubscription(pubsub, topics.audio, subscriptions.persistAudio, {
      ordered: true,
      deadLetterTopic: topics.deadLetter,
    }),
    ensureSubscription(pubsub, topics.events, subscriptions.events, {
      ordered: true,
      deadLetterTopic: topics.deadLetter,
    }),
    ensureSubscription(pubsub, topics.extraction, subscriptions.extractSpeakers, {
      ordered: false,
      deadLetterTopic: topics.deadLetter,
    }),
    ensureSubscription(pubsub, topics.deadLetter, subscriptions.deadLetter, { ordered: false }),
  ]);
  // The storage emulator cannot create buckets; a bucket exists once it holds an object.
  await clients.bucket
    .file(BUCKET_MARKER_OBJECT)
    .save(JSON.stringify({ environment: resources.environment, project_id: resources.projectId }), {
      resumable: false,
      contentType: "application/json",
    });
}
