/**
 * Two environments on one set of emulators never see each other's messages or objects:
 * the property the whole product rests on (PROTOCOL.md section 1).
 */

import { pullMessages } from "../support/pull";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";

describe("two environments of one local stack", () => {
  let staging: TestEnvironment;
  let prod: TestEnvironment;

  beforeAll(async () => {
    [staging, prod] = await Promise.all([createTestEnvironment("stg"), createTestEnvironment("prd")]);
  });
  afterAll(async () => {
    await Promise.all([staging?.close(), prod?.close()]);
  });

  it("gives each environment its own project, topics, subscriptions, bucket and database", () => {
    const a = staging.resources;
    const b = prod.resources;
    expect(a.projectId).not.toBe(b.projectId);
    expect(a.bucket).not.toBe(b.bucket);
    expect(a.databaseId).not.toBe(b.databaseId);
    for (const key of Object.keys(a.topics) as Array<keyof typeof a.topics>)
      expect(a.topics[key]).not.toBe(b.topics[key]);
    for (const key of Object.keys(a.subscriptions) as Array<keyof typeof a.subscriptions>)
      expect(a.subscriptions[key]).not.toBe(b.subscriptions[key]);
  });

  it("subscribes every subscription of an environment to that environment's own topics", async () => {
    for (const env of [staging, prod]) {
      const [subscriptions] = await env.clients.pubsub.getSubscriptions();
      expect(subscriptions.length).toBe(Object.keys(env.resources.subscriptions).length);
      for (const subscription of subscriptions) {
        const [metadata] = await subscription.getMetadata();
        const topic = metadata.topic ?? "";
        expect(
          topic.startsWith(`projects/${env.resources.projectId}/topics/tether-${env.resources.environment}-`),
        ).toBe(true);
      }
    }
  });

  it("delivers a message published to one environment's audio topic there, and nowhere in the other", async () => {
    const marker = `isolation-${Date.now()}`;
    await staging.clients.pubsub.topic(staging.resources.topics.audio).publishMessage({
      data: Buffer.from(marker),
      attributes: { environment: staging.resources.environment },
    });
    const [mine, ...others] = await Promise.all([
      pullMessages(staging.clients.pubsub, staging.resources.subscriptions.persistAudio, { count: 1 }),
      ...Object.values(prod.resources.subscriptions).map((name) => pullMessages(prod.clients.pubsub, name)),
    ]);
    expect(mine?.map((m) => m.data.toString())).toEqual([marker]);
    for (const received of others) expect(received).toEqual([]);
  });

  it("keeps an object written to one environment's bucket out of the other's", async () => {
    const name = `conversations/isolation-${Date.now()}/probe.bin`;
    await staging.clients.bucket.file(name).save(Buffer.from([1, 2, 3]), { resumable: false });
    const [inStaging] = await staging.clients.bucket.file(name).exists();
    const [inProd] = await prod.clients.bucket.file(name).exists();
    const [prodObjects] = await prod.clients.bucket.getFiles({ prefix: "conversations/" });
    expect(inStaging).toBe(true);
    expect(inProd).toBe(false);
    expect(prodObjects).toEqual([]);
  });
});
