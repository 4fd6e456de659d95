/**
 * What local/provision.ts creates on the Pub/Sub emulator, read back from the emulator:
 * the subscriptions of the pipeline declaration, and those of a changed declaration (the
 * events subscription ordered, persist-audio's with a dead-letter policy).
 */
import type { PubSub } from "@google-cloud/pubsub";
import { provisionEnvironment } from "../../local/provision";
import { environmentResources, localProjectId, parseEnvironmentName } from "../../shared/environment";
import { createGcpClients, type GcpClients } from "../../shared/gcp-clients";
import { PIPELINE, type Pipeline, type SubscriptionKey } from "../../shared/pipeline";
import { requireEmulators, uniqueEnvironmentName } from "../support/test-environment";

/** A subscription as the emulator reports it. */
async function described(pubsub: PubSub, name: string) {
  const [metadata] = await pubsub.subscription(name).getMetadata();
  return {
    topic: String(metadata.topic).split("/").pop(),
    ordered: metadata.enableMessageOrdering === true,
    ackDeadlineSeconds: metadata.ackDeadlineSeconds,
    retry:
      metadata.retryPolicy === null || metadata.retryPolicy === undefined
        ? "none"
        : `${metadata.retryPolicy.minimumBackoff?.seconds}..${metadata.retryPolicy.maximumBackoff?.seconds}`,
    deadLetter:
      metadata.deadLetterPolicy === null || metadata.deadLetterPolicy === undefined
        ? "none"
        : `${String(metadata.deadLetterPolicy.deadLetterTopic).split("/").pop()} after ${metadata.deadLetterPolicy.maxDeliveryAttempts}`,
  };
}

describe("local provisioning on the emulator", () => {
  const opened: GcpClients[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((clients) => clients.close()));
  });

  const provision = async (pipeline: Pipeline) => {
    requireEmulators();
    const environment = parseEnvironmentName(uniqueEnvironmentName("prov"));
    const resources = environmentResources(environment, localProjectId(environment));
    const clients = createGcpClients(resources);
    opened.push(clients);
    await provisionEnvironment(resources, clients, pipeline);
    const of = (key: SubscriptionKey) => described(clients.pubsub, resources.subscriptions[key]);
    return { resources, of };
  };

  it("creates the declared subscriptions: unordered, no dead-letter policy, no retry policy on the emulator", async () => {
    const { resources, of } = await provision(PIPELINE);
    expect(await of("persistAudio")).toEqual({
      topic: resources.topics.audio,
      ordered: false,
      ackDeadlineSeconds: 300,
      retry: "none",
      deadLetter: "none",
    });
    expect(await of("events")).toMatchObject({ topic: resources.topics.events, ordered: false, deadLetter: "none" });
    expect(await of("extractSpeakers")).toMatchObject({
      topic: resources.topics.extraction,
      ordered: false,
      ackDeadlineSeconds: 540,
      deadLetter: "none",
    });
    expect(await of("deadLetter")).toMatchObject({ topic: resources.topics.deadLetter, retry: "none" });
  });

  it("creates what a changed declaration says instead", async () => {
    const changed: Pipeline = {
      ...PIPELINE,
      subscriptions: {
        ...PIPELINE.subscriptions,
        events: { ...PIPELINE.subscriptions.events, ordered: true },
        persistAudio: {
          ...PIPELINE.subscriptions.persistAudio,
          deadLetter: { topic: "deadLetter", maxDeliveryAttempts: 7 },
        },
      },
    };
    const { resources, of } = await provision(changed);
    expect((await of("events")).ordered).toBe(true);
    expect((await of("persistAudio")).deadLetter).toBe(`${resources.topics.deadLetter} after 7`);
    expect((await of("extractSpeakers")).ordered).toBe(false);
  });
});
