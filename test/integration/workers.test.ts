/**
 * The workers behind real Pub/Sub push subscriptions (served by the functions framework and
 * pushed to by the emulator, as the local stack runs them), and behind the functions
 * framework as deployed (functions/index.ts).
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import { WORKERS } from "../../functions/workers";
import { type PushedWorkers, startPushedWorkers } from "../../local/push-delivery";
import { type ConversationDoc, conversationRef } from "../../shared/firestore-schema";
import { decodePubSubEvent, type PubSubHandler } from "../../shared/pubsub-event";
import { eventually } from "../support/poll";
import { pullMessages } from "../support/pull";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import {
  type ChunkStream,
  chunkMessage,
  chunkMessages,
  deliveryOf,
  eventMessage,
  type OutgoingMessage,
  pcm16Noise,
} from "../support/workers-messages";
import {
  beginFinalizeAsIngress,
  createWorkerTestRuntime,
  seedConversation,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";
import { storedDocuments, storedObjects } from "../support/workers-storage";

describe("workers on Pub/Sub", () => {
  let env: TestEnvironment;
  let worker: WorkerTestRuntime;
  let workers: PushedWorkers | undefined;

  const stream = (conversationId: string, overrides: Partial<ChunkStream> = {}): ChunkStream => ({
    environment: env.resources.environment,
    conversationId,
    userId: "user-a",
    codec: "pcm16",
    sampleRate: 8000,
    chunkSize: 1600,
    ...overrides,
  });
  /** Publishes as the ingress does: no ordering key. */
  const publish = (topic: "audio" | "events", message: OutgoingMessage) =>
    env.clients.pubsub.topic(env.resources.topics[topic]).publishMessage(message);
  /** Deliveries of these conversations' events fail (a worker made to fail), this many times each. */
  const failingEvents = new Map<string, number>();

  const failFirst =
    (name: string, _environment: string, handler: PubSubHandler): PubSubHandler =>
    async (event) => {
      const id = decodePubSubEvent(event).attributes.conversation_id ?? "";
      const left = failingEvents.get(id) ?? 0;
      if (name === "processEvents" && left > 0) {
        failingEvents.set(id, left - 1);
        throw Object.assign(new Error("injected: the database is unavailable"), { code: 14 });
      }
      await handler(event);
    };

  beforeAll(async () => {
    // The worker under test serves "staging-…"; the rogue message says "prod".
    env = await createTestEnvironment("staging");
    worker = createWorkerTestRuntime(env);
    // Only the workers under test: the extraction request they publish stays in its subscription to be read.
    const underTest = WORKERS.filter((binding) => binding.name === "persistAudio" || binding.name === "processEvents");
    workers = await startPushedWorkers({
      bindings: underTest,
      runtime: worker.runtime,
      workerRuntime: worker.runtime,
      host: "127.0.0.1",
      wrapWorker: failFirst,
    });
  });
  afterAll(async () => {
    await workers?.close();
    await worker?.close();
    await env?.close();
  });

  it("registers the persist-audio and events workers on their topics", () => {
    expect(WORKERS.map((w) => [w.name, w.topic, w.subscription])).toEqual(
      expect.arrayContaining([
        ["persistAudio", "audio", "persistAudio"],
        ["processEvents", "events", "events"],
      ]),
    );
  });

  it("sends a chunk tagged environment=prod, published to the staging audio topic, to the dead-letter topic and writes nothing", async () => {
    const id = uniqueConversationId("prod-chunk");
    const message = chunkMessage(
      stream(id, { environment: "prod" }),
      { index: 0, start: 0, end: 1600, final: false },
      pcm16Noise(800),
    );

    await publish("audio", message);

    // Without `count`, pulls until the subscription stays quiet: exactly one dead letter.
    const [dead, ...more] = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter);
    expect(more).toEqual([]);
    expect(dead?.attributes).toMatchObject({
      conversation_id: id,
      environment: "prod",
      rejection_reason: "wrong_environment",
    });
    expect(dead?.data.equals(message.data)).toBe(true);
    expect(await storedObjects(env.clients, id)).toEqual([]);
    expect(await storedDocuments(env.clients, id)).toEqual({});
    expect(worker.logs.find("ERROR", { conversation_id: id, environment: env.resources.environment })).toHaveLength(1);
  });

  it("persists a conversation whose every message is published three times exactly once, and finalizes it", async () => {
    const id = uniqueConversationId("thrice");
    await seedConversation(worker.runtime, { id, userId: "user-a", codec: "pcm16", sampleRate: 8000, chunkSize: 1600 });
    const audio = pcm16Noise(4100, 5); // 8,200 bytes: 5 full chunks and a final one of 200
    const chunks = chunkMessages(stream(id), audio, (i) => `session-${1 + Math.floor(i / 2)}`);
    await beginFinalizeAsIngress(worker.runtime, id, {
      finalPosition: audio.length,
      reason: "client",
      sessionId: "session-3",
      eventsConfirmed: 0,
    });
    const finalize = eventMessage(stream(id), "session-3", {
      type: "finalize",
      final_position: audio.length,
      reason: "client",
    });

    // A finalize published before the last chunk, and every message repeated (re-publishes by a resumed ingress).
    for (const message of [...chunks.slice(0, 4), finalize, ...chunks.slice(4)]) {
      await publish(message === finalize ? "events" : "audio", message);
    }
    for (const message of [...chunks].reverse()) await publish("audio", message);
    await publish("events", finalize);
    for (const message of chunks) await publish("audio", message);

    await eventually(async () => {
      const doc = (await conversationRef(env.clients.firestore, id).get()).data() as ConversationDoc | undefined;
      return doc?.status === "finalized";
    }, "the conversation to be finalized");
    // Every redelivery settles; the objects and index are those of a single delivery.
    await eventually(
      async () =>
        worker.logs.find("INFO", { conversation_id: id, message: "chunk already persisted (redelivery)" }).length >= 12,
      "all redeliveries to be processed",
    );
    // One flip, one generation; concurrent completions may each publish its request (at least once).
    const requests = await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers);
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(
      new Set(requests.map((r) => `${r.attributes.conversation_id} ${r.attributes.reason} ${r.attributes.generation}`)),
    ).toEqual(new Set([`${id} finalized 1`]));
    expect(
      worker.logs.find("INFO", {
        conversation_id: id,
        message: "conversation finalized: every chunk and every event sent before the end is stored",
      }),
    ).toHaveLength(1);
    const objects = await storedObjects(env.clients, id);
    expect(objects).toHaveLength(6);
    expect(Buffer.concat(objects.map((o) => o.bytes)).equals(audio)).toBe(true);
    const docs = await storedDocuments(env.clients, id);
    expect(Object.keys(docs).filter((k) => k.startsWith("chunks/"))).toHaveLength(6);
    expect(worker.logs.find("INFO", { conversation_id: id, message: "chunk persisted" })).toHaveLength(6);
    expect(worker.logs.find("ERROR", { conversation_id: id })).toEqual([]);
  });

  it("redelivers an event whose worker keeps failing, and never dead-letters it: it is applied once the failure ends", async () => {
    const id = uniqueConversationId("retry");
    await seedConversation(worker.runtime, { id, userId: "user-a", codec: "pcm16", sampleRate: 8000, chunkSize: 1600 });
    failingEvents.set(id, 3);
    await publish(
      "events",
      eventMessage(stream(id), "session-1", {
        type: "segments",
        segments: [{ id: "s1", start: 0, end: 1, text: "kept", speaker: "S", is_user: true, person_id: null }],
      }),
    );
    await eventually(
      async () => worker.logs.find("INFO", { conversation_id: id, message: "segments stored" }).length === 1,
      "the event applied after its failures",
    );
    expect(failingEvents.get(id)).toBe(0);
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { quietMs: 2_000 });
    expect(dead.filter((m) => m.attributes.conversation_id === id)).toEqual([]);
  });
});

describe("functions/index.ts (the deployed entry point)", () => {
  let env: TestEnvironment;
  const saved = { ...process.env };
  const servers: Server[] = [];

  async function listen(name: string): Promise<string> {
    const server = getTestServer(name);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    env = await createTestEnvironment("entry");
    // The functions read their settings on first invocation, as in Cloud Functions.
    Object.assign(process.env, {
      TETHER_ENVIRONMENT: env.resources.environment,
      TETHER_PROJECT_ID: env.resources.projectId,
      TETHER_TOKEN_SECRET: "entry-point-test-secret-0123456789",
    });
    await import("../../functions/index");
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    process.env = saved;
    await env?.close();
  });

  it("registers every worker of the pipeline, and not the API (a Cloud Run server of its own)", async () => {
    for (const worker of WORKERS) expect(() => getTestServer(worker.name)).not.toThrow();
    expect(() => getTestServer("api")).toThrow(/not registered/);
  });

  it("serves the persist-audio worker as a CloudEvent function, from a CloudEvent and from a Pub/Sub push", async () => {
    const url = await listen("persistAudio");
    const id = uniqueConversationId("entry");
    const message = chunkMessage(
      { environment: "prod", conversationId: id, userId: "u", codec: "pcm16", sampleRate: 8000, chunkSize: 2 },
      { index: 0, start: 0, end: 2, final: true },
      Buffer.alloc(2),
    );
    const event = deliveryOf(env.resources, "audio", message);
    const structured = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/cloudevents+json" },
      body: JSON.stringify(event),
    });
    expect(structured.status).toBe(204);
    const push = await fetch(`${url}/projects/${env.resources.projectId}/topics/${env.resources.topics.audio}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(event.data),
    });
    expect(push.status).toBe(204);

    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 2 });
    expect(dead.map((m) => [m.attributes.conversation_id, m.attributes.rejection_reason])).toEqual([
      [id, "wrong_environment"],
      [id, "wrong_environment"],
    ]);
  });
});
