/**
 * The events worker against the emulators: segments and assignments per conversation
 * across sessions and in any order (revisions, not delivery order, decide), and the
 * lifecycle's barrier: a conversation the ingress marked `finalizing` becomes `finalized`
 * once every chunk and every counted event is stored, whichever lands last, with exactly
 * one extraction request per generation.
 */
import { allSegments as listSegments } from "../../functions/api/segments-page";
import { requestDeletion } from "../../functions/deletion/tombstone";
import { createEventsHandler } from "../../functions/events/handler";
import { ChunksPendingError } from "../../functions/finalization";
import { createPersistAudioHandler } from "../../functions/persist-audio/handler";
import { forComponent } from "../../functions/runtime";
import { COLLECTIONS, type ConversationDoc, conversationRef } from "../../shared/firestore-schema";
import { lifecycleView } from "../../shared/lifecycle";
import type { EventBody, Segment } from "../../shared/messages";
import type { PubSubHandler } from "../../shared/pubsub-event";
import { chunkObjectName } from "../../shared/storage-paths";
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
  beginFinalizeAsIngress,
  createWorkerTestRuntime,
  holdUpload,
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
  const deliverEvent = (message: OutgoingMessage) => events(deliveryOf(env.resources, "events", message));
  /** Event number `seq` of socket `session-N` (its ordinal is N). */
  const event = (conversationId: string, sessionId: string, body: EventBody, seq = 1) =>
    eventMessage(stream(conversationId), sessionId, body, { seq, sessionOrdinal: Number(sessionId.split("-")[1]) });
  const doc = async (conversationId: string) =>
    (await conversationRef(env.clients.firestore, conversationId).get()).data() as ConversationDoc;
  const status = async (conversationId: string) => (await doc(conversationId))?.status;
  const seed = (conversationId: string) =>
    seedConversation(worker.runtime, {
      id: conversationId,
      userId: "user-a",
      codec: "pcm16",
      sampleRate: 8000,
      chunkSize: 1600,
    });
  const finalizeAsIngress = (conversationId: string, finalPosition: number, sessionId: string, eventsConfirmed = 0) =>
    beginFinalizeAsIngress(worker.runtime, conversationId, {
      finalPosition,
      reason: "client",
      sessionId,
      eventsConfirmed,
    });
  const trigger = (conversationId: string, finalPosition: number) =>
    event(conversationId, "session-1", { type: "finalize", final_position: finalPosition, reason: "client" });

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
    await seed(id);
    await deliverEvent(event(id, "session-2", { type: "speaker_assigned", person_id: "p7", segment_ids: ["s1"] }, 1));
    await deliverEvent(event(id, "session-1", { type: "segments", segments: [segment("s1", 1, 2, "draft")] }));
    await deliverEvent(event(id, "session-2", { type: "segments", segments: [segment("s1", 1, 2.5, "final")] }, 2));

    const segments = await listSegments(env.clients.firestore, id);
    expect(segments.map((s) => [s.id, s.text, s.end, s.person_id, s.session_id])).toEqual([
      ["s1", "final", 2.5, "p7", "session-2"],
    ]);
  });

  it("stores a segment sent with only id, start and end with the protocol's defaults", async () => {
    const id = uniqueConversationId("defaults");
    await seed(id);
    const message = event(id, "session-1", { type: "segments", segments: [segment("s1", 0, 1)] });
    const bare = {
      ...message,
      data: Buffer.from(JSON.stringify({ type: "segments", segments: [{ id: "s1", start: 0, end: 1, extra: 1 }] })),
    };
    await deliverEvent(bare);
    const [stored] = await listSegments(env.clients.firestore, id);
    expect(stored).toEqual({
      id: "s1",
      start: 0,
      end: 1,
      text: "",
      speaker: null,
      is_user: false,
      person_id: null,
      session_id: "session-1",
    });
  });

  it("orders writes by the ingress's revision, not by delivery: an older event delivered last changes nothing", async () => {
    const id = uniqueConversationId("stale");
    await seed(id);
    const older = event(id, "session-1", { type: "segments", segments: [segment("s1", 0, 1, "old")] }, 1);
    const newer = event(id, "session-2", { type: "segments", segments: [segment("s1", 0, 1, "new")] }, 1);
    const assignOld = event(id, "session-1", { type: "speaker_assigned", person_id: "p-old", segment_ids: ["s1"] }, 2);
    const assignNew = event(id, "session-2", { type: "speaker_assigned", person_id: "p-new", segment_ids: ["s1"] }, 2);
    for (const message of [newer, assignNew, older, assignOld]) await deliverEvent(message);
    const before = await listSegments(env.clients.firestore, id);
    expect(before.map((s) => [s.text, s.person_id])).toEqual([["new", "p-new"]]);
    await Promise.all([assignNew, older, assignOld, newer, older].map(deliverEvent));
    expect(await listSegments(env.clients.firestore, id)).toEqual(before);
  });

  it("lets copies of an older and a newer event, all in flight together on a fresh conversation, leave the newer one's data", async () => {
    const id = uniqueConversationId("race");
    await seed(id);
    const ids = ["r1", "r2", "r3"];
    const older = event(id, "session-1", { type: "segments", segments: ids.map((s) => segment(s, 0, 1, "old")) }, 1);
    const newer = event(id, "session-2", { type: "segments", segments: ids.map((s) => segment(s, 0, 1, "new")) }, 1);
    const assignOld = event(id, "session-1", { type: "speaker_assigned", person_id: "p-old", segment_ids: ids }, 2);
    const assignNew = event(id, "session-2", { type: "speaker_assigned", person_id: "p-new", segment_ids: ids }, 2);
    // Every document is absent, then written by concurrent copies: creates and replacements race.
    const copies = [older, newer, assignOld, assignNew].flatMap((message) => [message, message, message]);
    await Promise.all(copies.map(deliverEvent));
    const stored = await listSegments(env.clients.firestore, id);
    expect(stored.map((s) => [s.id, s.text, s.person_id])).toEqual(ids.map((s) => [s, "new", "p-new"]));
  });

  it("finalizes when the last chunk lands after the finalize, and requests extraction exactly once", async () => {
    const id = uniqueConversationId("fin-late");
    await seed(id);
    const chunks = chunkMessages(stream(id), pcm16Noise(2000)); // 4000 bytes: chunks of 1600, 1600, 800
    await finalizeAsIngress(id, 4000, "session-1");

    await persist(deliveryOf(env.resources, "audio", chunks[0] as OutgoingMessage));
    await persist(deliveryOf(env.resources, "audio", chunks[2] as OutgoingMessage));
    // Chunks are missing: the trigger is redelivered to check again.
    await expect(deliverEvent(trigger(id, 4000))).rejects.toThrow(ChunksPendingError);
    expect(await status(id)).toBe("finalizing");

    await persist(deliveryOf(env.resources, "audio", chunks[1] as OutgoingMessage));
    expect(await status(id)).toBe("finalized");

    // Everything again, concurrently: still one finalization, one request.
    await Promise.all([
      ...chunks.map((c) => persist(deliveryOf(env.resources, "audio", c))),
      deliverEvent(trigger(id, 4000)),
    ]);
    const requests = await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 1 });
    expect(requests.map((m) => [m.attributes.conversation_id, m.attributes.reason, m.attributes.generation])).toEqual([
      [id, "finalized", "1"],
    ]);
    expect(JSON.parse(requests[0]?.data.toString() ?? "null")).toEqual({ conversation_id: id });
    expect(worker.logs.find("INFO", { conversation_id: id, message: "speaker extraction requested" })).toHaveLength(1);
    expect(await doc(id)).toMatchObject({
      status: "finalized",
      final_position: 4000,
      finalize_reason: "client",
      extraction_generation: 1,
      extraction_requested_generation: 1,
    });
  });

  it("finalizes by the last chunk's own check when its write was held across the finalize and the trigger's check", async () => {
    const id = uniqueConversationId("fin-race");
    await seed(id);
    const chunks = chunkMessages(stream(id), pcm16Noise(2000));
    for (const i of [0, 2]) await persist(deliveryOf(env.resources, "audio", chunks[i] as OutgoingMessage));
    const slowed = holdUpload(forComponent(worker.runtime, "persist-audio"), chunkObjectName(id, 1, "pcm16"));
    const late = createPersistAudioHandler(slowed.runtime)(
      deliveryOf(env.resources, "audio", chunks[1] as OutgoingMessage),
    );
    await slowed.held; // its write waits
    await finalizeAsIngress(id, 4000, "session-1");
    await expect(deliverEvent(trigger(id, 4000))).rejects.toThrow(ChunksPendingError);
    slowed.release();
    await late;
    // It read the conversation after its write, finalizing, and checked: no redelivery needed.
    expect(await status(id)).toBe("finalized");
  });

  it("waits for every event the ingress counted, in whatever order they arrive, before it finalizes", async () => {
    const id = uniqueConversationId("barrier");
    // Socket 2's count as the ingress recorded it with a durable position; socket 1's at finalize.
    await seedConversation(worker.runtime, {
      id,
      userId: "user-a",
      codec: "pcm16",
      sampleRate: 8000,
      chunkSize: 1600,
      eventsRecorded: { "session-2": 1 },
    });
    const sent = [
      event(id, "session-1", { type: "segments", segments: [segment("a", 0, 0.1)] }, 1),
      event(id, "session-1", { type: "segments", segments: [segment("b", 0.1, 0.2)] }, 2),
      event(id, "session-1", { type: "speaker_assigned", person_id: "p1", segment_ids: ["a", "b"] }, 3),
      event(id, "session-2", { type: "segments", segments: [segment("c", 0.2, 0.3)] }, 1),
    ];
    await finalizeAsIngress(id, 0, "session-1", 3);

    await deliverEvent(trigger(id, 0));
    await deliverEvent(sent[3] as OutgoingMessage);
    await deliverEvent(sent[2] as OutgoingMessage);
    await deliverEvent(sent[0] as OutgoingMessage);
    expect(await status(id)).toBe("finalizing");
    expect(lifecycleView(await doc(id)).extractionStatus).toBe("pending");
    await deliverEvent(sent[1] as OutgoingMessage);
    expect(await status(id)).toBe("finalized");
    const segments = await listSegments(env.clients.firestore, id);
    expect(segments.map((s) => [s.id, s.person_id])).toEqual([
      ["a", "p1"],
      ["b", "p1"],
      ["c", null],
    ]);
    await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 1 });
  });

  it("starts a newer extraction generation when speaker data changes after finalization", async () => {
    const id = uniqueConversationId("late");
    await seed(id);
    await deliverEvent(event(id, "session-1", { type: "segments", segments: [segment("s1", 0, 0.1)] }, 1));
    await finalizeAsIngress(id, 0, "session-1", 1);
    await deliverEvent(trigger(id, 0));
    expect(await status(id)).toBe("finalized");
    // A late event, never counted (its socket died before the ingress recorded it).
    await deliverEvent(event(id, "session-1", { type: "speaker_assigned", person_id: "p1", segment_ids: ["s1"] }, 2));

    const requests = await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 2 });
    expect(requests.map((m) => [m.attributes.reason, m.attributes.generation]).sort()).toEqual([
      ["finalized", "1"],
      ["speaker_assigned", "2"],
    ]);
    expect(await doc(id)).toMatchObject({ extraction_generation: 2, extraction_requested_generation: 2 });
    // A redelivery of an event that changes nothing starts no generation.
    await deliverEvent(event(id, "session-1", { type: "segments", segments: [segment("s1", 0, 0.1)] }, 1));
    expect((await doc(id)).extraction_generation).toBe(2);
  });

  it("publishes a lost extraction request: a crash between the flip and the request", async () => {
    const id = uniqueConversationId("lost");
    await seed(id);
    await finalizeAsIngress(id, 0, "session-1");
    // The flip happened, the worker died before publishing (the request generation trails).
    await conversationRef(env.clients.firestore, id).update({ status: "finalized", extraction_generation: 1 });
    await deliverEvent(trigger(id, 0)); // the redelivered message
    const requests = await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 1 });
    expect(requests.map((m) => [m.attributes.conversation_id, m.attributes.generation])).toEqual([[id, "1"]]);
    expect((await doc(id)).extraction_requested_generation).toBe(1);
  });

  it("completes a conversation whose counted event can never be stored, and says so: extraction failed", async () => {
    const id = uniqueConversationId("refused");
    await seed(id);
    await finalizeAsIngress(id, 0, "session-1", 2);
    await deliverEvent(event(id, "session-1", { type: "segments", segments: [segment("good", 0, 0.1)] }, 1));
    // A segment id the database reserves: no delivery can ever store it.
    await deliverEvent(event(id, "session-1", { type: "segments", segments: [segment("__bad__", 0.1, 0.2)] }, 2));
    await deliverEvent(trigger(id, 0));
    const stored = await doc(id);
    expect(stored.status).toBe("finalized");
    expect(stored.rejected_events?.map((e) => [e.session_id, e.seq])).toEqual([["session-1", 2]]);
    expect(lifecycleView({ ...stored, extraction: { status: "done", generation: 1 } }).extractionStatus).toBe("failed");
    expect((await listSegments(env.clients.firestore, id)).map((s) => s.id)).toEqual(["good"]);
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 1 });
    expect(dead.map((m) => [m.attributes.conversation_id, m.attributes.seq])).toEqual([[id, "2"]]);
    await pullMessages(env.clients.pubsub, env.resources.subscriptions.extractSpeakers, { count: 1 });
  });

  it("acks a finalize trigger for a conversation it has no record of, and one still in progress", async () => {
    const id = uniqueConversationId("early");
    await deliverEvent(trigger(id, 0));
    await seed(id);
    await deliverEvent(trigger(id, 0));
    expect(await status(id)).toBe("in_progress");
  });

  it("stores nothing from an event of a conversation deleted but not purged yet: its record says so", async () => {
    const id = uniqueConversationId("deleted");
    await seed(id);
    expect((await requestDeletion(env.clients.firestore, id, { userId: "user-a", reason: "request" })).kind).toBe(
      "requested",
    );
    await deliverEvent(event(id, "session-1", { type: "segments", segments: [segment("s1", 0, 1)] }));

    expect(await listSegments(env.clients.firestore, id)).toEqual([]);
    const markers = await conversationRef(env.clients.firestore, id).collection(COLLECTIONS.appliedEvents).get();
    expect(markers.size).toBe(0);
    expect(
      worker.logs.find("INFO", { conversation_id: id, message: "message for a deleted conversation: nothing stored" }),
    ).toHaveLength(1);
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
