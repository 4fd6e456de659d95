/**
 * The events worker against the emulators: segments and assignments per conversation
 * across sessions and in any order, and finalization whichever of the finalize and the
 * last chunk arrives last, with exactly one extraction request.
 */
import { listSegments } from "../../functions/api/conversations";
import { createEventsHandler } from "../../functions/events/handler";
import { createPersistAudioHandler } from "../../functions/persist-audio/handler";
import { forComponent } from "../../functions/runtime";
import { type ConversationDoc, conversationRef } from "../../shared/firestore-schema";
import type { EventBody, Segment } from "../../shared/messages";
import type { PubSubHandler } from "../../shared/pubsub-event";
import { pullMessages } from "../support/pull";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import {
  type ChunkStream,
  chunkMessages,
  deliveryOf,
  eventMessage,
  type OutgoingMessage,
  pcm16Noise,
} from "../support/workers-messages";
import {
  createWorkerTestRuntime,
  seedConversation,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";

const segment = (id: string, start: number, end: number, text = id): Segment => ({
  id,
  start,
  end,
  text,
  speaker: "SPEAKER_01",
  is_user: false,
  person_id: null,
});

describe("events worker", () => {
  let env: TestEnvironment;
  let worker: WorkerTestRuntime;
  let events: PubSubHandler;
  let persist: PubSubHandler;

  const stream = (conversationId: string): ChunkStream => ({
    environment: env.resources.environment,
    conversationId,
    userId: "user-a",
    codec: "pcm16",
    sampleRate: 8000,
    chunkSize: 1600,
  });
  /** Delivers an event published at `at` (ms), as Pub/Sub stamps it. */
  const deliverEvent = (message: OutgoingMessage, at = Date.now()) =>
    events(deliveryOf(env.resources, "events", message, { publishTime: new Date(at) }));
  const event = (conversationId: string, sessionId: string, body: EventBody) =>
    eventMessage(stream(conversationId), sessionId, body);
  const status = async (conversationId: string) =>
    ((await conversationRef(env.clients.firestore, conversationId).get()).data() as ConversationDoc | undefined)
      ?.status;
  const seed = (conversationId: string) =>
    seedConversation(worker.runtime, {
      id: conversationId,
      userId: "user-a",
      codec: "pcm16",
      sampleRate: 8000,
      chunkSize: 1600,
    });

  beforeAll(async () => {
    env = await createTestEnvironment("ev");
    worker = createWorkerTestRuntime(env);
    events = createEventsHandler(forComponent(worker.runtime, "events"));
    persist = createPersistAudioHandler(forComponent(worker.runtime, "persist-audio"));
  });
  afterAll(async () => {
    await worker?.close();
    await env?.close();
  });

  it("applies a speaker assignment sent in session 3 to segments sent in session 1", async () => {
    const id = uniqueConversationId("assign");
    await seed(id);
    await deliverEvent(
      event(id, "session-1", { type: "segments", segments: [segment("s1", 0, 2), segment("s2", 2, 4)] }),
    );
    await deliverEvent(event(id, "session-2", { type: "segments", segments: [segment("s3", 4, 6)] }));
    await deliverEvent(
      event(id, "session-3", { type: "speaker_assigned", person_id: "p1", segment_ids: ["s1", "s3"] }),
    );

    const segments = await listSegments(env.clients.firestore, id);
    expect(segments.map((s) => [s.id, s.session_id, s.person_id])).toEqual([
      ["s1", "session-1", "p1"],
      ["s2", "session-1", null],
      ["s3", "session-2", "p1"],
    ]);
  });

  it("applies an assignment that arrives before its segment, and a re-sent segment replaces the old one", async () => {
    const id = uniqueConversationId("order");
    const t0 = Date.now();
    await deliverEvent(
      event(id, "session-2", { type: "speaker_assigned", person_id: "p7", segment_ids: ["s1"] }),
      t0 + 10,
    );
    await deliverEvent(event(id, "session-1", { type: "segments", segments: [segment("s1", 1, 2, "draft")] }), t0);
    await deliverEvent(
      event(id, "session-2", { type: "segments", segments: [segment("s1", 1, 2.5, "final")] }),
      t0 + 20,
    );

    const segments = await listSegments(env.clients.firestore, id);
    expect(segments.map((s) => [s.id, s.text, s.end, s.person_id, s.session_id])).toEqual([
      ["s1", "final", 2.5, "p7", "session-2"],
    ]);
  });

  it("does not let a redelivered older event overwrite a newer one, and is unchanged by redeliveries", async () => {
    const id = uniqueConversationId("stale");
    const t0 = Date.now();
    const older = event(id, "session-1", { type: "segments", segments: [segment("s1", 0, 1, "old")] });
    const newer = event(id, "session-2", { type: "segments", segments: [segment("s1", 0, 1, "new")] });
    const assignOld = event(id, "session-1", { type: "speaker_assigned", person_id: "p-old", segment_ids: ["s1"] });
    const assignNew = event(id, "session-2", { type: "speaker_assigned", person_id: "p-new", segment_ids: ["s1"] });
    for (const [message, at] of [
      [older, t0],
      [newer, t0 + 5],
      [assignOld, t0 + 6],
      [assignNew, t0 + 7],
    ] as const) {
      await deliverEvent(message, at);
    }
    const before = await listSegments(env.clients.firestore, id);
    for (const [message, at] of [
      [assignNew, t0 + 7],
      [older, t0],
      [assignOld, t0 + 6],
      [newer, t0 + 5],
      [older, t0],
    ] as const) {
      await deliverEvent(message, at);
    }
    const after = await listSegments(env.clients.firestore, id);
    expect(after).toEqual(before);
    expect(after.map((s) => [s.text, s.person_id])).toEqual([["new", "p-new"]]);
  });

  it("finalizes when the last chunk lands after the finalize, and requests extraction exactly once", async () => {
    const id = uniqueConversationId("fin-late");
    await seed(id);
    const chunks = chunkMessages(stream(id), pcm16Noise(2000)); // 4000 bytes: chunks of 1600, 1600, 800
    const finalize = event(id, "session-2", { type: "finalize", final_position: 4000, reason: "client" });

    await persist(deliveryOf(env.resources, "audio", chunks[0] as OutgoingMessage));
    await persist(deliveryOf(env.resources, "audio", chunks[2] as OutgoingMessage));
    await deliverEvent(finalize);
    expect(await status(id)).toBe("finalizing");

    await persist(deliveryOf(env.resources, "audio", chunks[1] as OutgoingMessage));
    expect(await status(id)).toBe("finalized");

    // Everything again, concurrently: still one finalization, one request.
    await Promise.all([...chunks.map((c) => persist(deliveryOf(env.resources, "audio", c))), deliverEvent(finalize)]);
    const requests = await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 1 });
    expect(requests.map((m) => [m.attributes.conversation_id, m.attributes.reason, m.attributes.environment])).toEqual([
      [id, "finalized", env.resources.environment],
    ]);
    expect(JSON.parse(requests[0]?.data.toString() ?? "null")).toEqual({ conversation_id: id });
    expect(
      worker.logs.find("INFO", {
        conversation_id: id,
        message: "conversation finalized; speaker extraction requested",
      }),
    ).toHaveLength(1);
    const doc = (await conversationRef(env.clients.firestore, id).get()).data() as ConversationDoc;
    expect(doc).toMatchObject({ status: "finalized", final_position: 4000, finalize_reason: "client" });
    expect(doc.extraction_requested_at).toBeTruthy();
  });

  it("finalizes at once when the finalize (idle timeout) arrives after all audio", async () => {
    const id = uniqueConversationId("fin-idle");
    await seed(id);
    for (const chunk of chunkMessages(stream(id), pcm16Noise(1600)))
      await persist(deliveryOf(env.resources, "audio", chunk));
    expect(await status(id)).toBe("in_progress");

    await deliverEvent(event(id, "session-1", { type: "finalize", final_position: 3200, reason: "idle_timeout" }));

    expect(await status(id)).toBe("finalized");
    const requests = await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 1 });
    expect(requests.map((m) => m.attributes.conversation_id)).toEqual([id]);
  });

  it("asks for extraction again when an assignment lands after finalization", async () => {
    const id = uniqueConversationId("late");
    await seed(id);
    await deliverEvent(event(id, "session-1", { type: "segments", segments: [segment("s1", 0, 0.1)] }));
    await deliverEvent(event(id, "session-1", { type: "finalize", final_position: 0, reason: "client" }));
    expect(await status(id)).toBe("finalized");
    await deliverEvent(event(id, "session-1", { type: "speaker_assigned", person_id: "p1", segment_ids: ["s1"] }));

    const requests = await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 2 });
    expect(requests.map((m) => m.attributes.reason).sort()).toEqual(["finalized", "speaker_assigned"]);
  });

  it("retries a finalize that arrives before its conversation document, and applies it once the document exists", async () => {
    const id = uniqueConversationId("early");
    const finalize = event(id, "session-1", { type: "finalize", final_position: 0, reason: "client" });
    await expect(deliverEvent(finalize)).rejects.toThrow(/before its conversation document exists/);
    expect(worker.logs.find("WARNING", { conversation_id: id })).toHaveLength(1);

    await seed(id);
    await deliverEvent(finalize);
    expect(await status(id)).toBe("finalized");
    await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 1 });
  });

  it("dead-letters another environment's event, and one of another user, writing nothing", async () => {
    const id = uniqueConversationId("reject");
    await seed(id);
    const prod = eventMessage({ ...stream(id), environment: "prod" }, "session-1", {
      type: "segments",
      segments: [segment("s1", 0, 1)],
    });
    const otherUser = eventMessage({ ...stream(id), userId: "user-b" }, "session-1", {
      type: "speaker_assigned",
      person_id: "p1",
      segment_ids: ["s1"],
    });

    await deliverEvent(prod);
    await deliverEvent(otherUser);

    expect(await listSegments(env.clients.firestore, id)).toEqual([]);
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 2 });
    expect(dead.map((m) => [m.attributes.rejection_reason, m.attributes.rejected_by]).sort()).toEqual([
      ["conversation_mismatch", "events"],
      ["wrong_environment", "events"],
    ]);
    expect(worker.logs.find("ERROR", { conversation_id: id })).toHaveLength(2);
  });
});
