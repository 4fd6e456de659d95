/**
 * The persist-audio worker against the emulators: idempotent under redelivery and
 * reordering, refuses other environments' and invalid messages into the dead-letter topic,
 * and keeps the first bytes of a chunk when different bytes are re-sent.
 */
import { createDeleteDataHandler } from "../../functions/deletion/handler";
import { requestDeletion } from "../../functions/deletion/tombstone";
import { createPersistAudioHandler } from "../../functions/persist-audio/handler";
import { forComponent } from "../../functions/runtime";
import { deletionMessage } from "../../shared/deletion-messages";
import type { PubSubHandler } from "../../shared/pubsub-event";
import { chunkObjectName } from "../../shared/storage-paths";
import { footprintOf, ONLY_THE_TOMBSTONE } from "../support/deletion-stores";
import { pullMessages } from "../support/pull";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import {
  type ChunkStream,
  chunkMessage,
  chunkMessages,
  deliveryOf,
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
import { storedDocuments, storedObjects } from "../support/workers-storage";

/** A fixed shuffle (no randomness in tests): reversed, then odd before even. */
function outOfOrder<T>(items: readonly T[]): T[] {
  const reversed = [...items].reverse();
  return [...reversed.filter((_, i) => i % 2 === 1), ...reversed.filter((_, i) => i % 2 === 0)];
}

/** Documents without server timestamps, which differ between two conversations by nature. */
function withoutTimes(docs: Record<string, Record<string, unknown>>): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(docs).map(([path, doc]) => {
      const { persisted_at: _p, claimed_at: _c, object, ...rest } = doc;
      return [
        path,
        { ...rest, object: typeof object === "string" ? object.replace(/^conversations\/[^/]+\//, "") : object },
      ];
    }),
  );
}

describe("persist-audio worker", () => {
  let env: TestEnvironment;
  let worker: WorkerTestRuntime;
  let persist: PubSubHandler;

  /** A 16 kHz pcm16 conversation of user-a with 0.1 s chunks, as the ingress opened it. */
  const seedPcm16 = (id: string, fields: { status?: "finalizing"; finalPosition?: number } = {}) =>
    seedConversation(worker.runtime, {
      id,
      userId: "user-a",
      codec: "pcm16",
      sampleRate: 16000,
      chunkSize: 3200,
      ...fields,
    });
  const stream = (conversationId: string, overrides: Partial<ChunkStream> = {}): ChunkStream => ({
    environment: env.resources.environment,
    conversationId,
    userId: "user-a",
    codec: "pcm16",
    sampleRate: 16000,
    chunkSize: 3200,
    ...overrides,
  });

  beforeAll(async () => {
    env = await createTestEnvironment("pa");
    worker = createWorkerTestRuntime(env);
    persist = createPersistAudioHandler(forComponent(worker.runtime, "persist-audio"));
  });
  afterAll(async () => {
    await worker?.close();
    await env?.close();
  });

  it("leaves the same objects and index when every chunk is delivered three times, out of order, as when delivered once", async () => {
    const audio = pcm16Noise(8000 + 700, 7); // 17,400 bytes: 5 full chunks of 3,200 and a final one of 1,400
    const once = uniqueConversationId("once");
    const thrice = uniqueConversationId("thrice");

    for (const message of chunkMessages(stream(once), audio))
      await persist(deliveryOf(env.resources, "audio", message));

    const messages = chunkMessages(stream(thrice), audio, (i) => `session-${1 + (i % 3)}`);
    for (const message of outOfOrder(messages)) await persist(deliveryOf(env.resources, "audio", message));
    const afterFirstPass = await storedDocuments(env.clients, thrice);
    // Redeliveries: the same message ids again, then new ids (a re-publish by the ingress), concurrently.
    await Promise.all(outOfOrder(messages).map((m) => persist(deliveryOf(env.resources, "audio", m))));
    await Promise.all(messages.map((m) => persist(deliveryOf(env.resources, "audio", m))));

    const [onceObjects, thriceObjects] = await Promise.all([
      storedObjects(env.clients, once),
      storedObjects(env.clients, thrice),
    ]);
    expect(thriceObjects.map((o) => o.name)).toEqual([
      "chunks/00000000.pcm",
      "chunks/00000001.pcm",
      "chunks/00000002.pcm",
      "chunks/00000003.pcm",
      "chunks/00000004.pcm",
      "chunks/00000005.pcm",
    ]);
    expect(Buffer.concat(thriceObjects.map((o) => o.bytes)).equals(audio)).toBe(true);
    expect(thriceObjects.map((o) => [o.name, o.bytes.toString("base64")])).toEqual(
      onceObjects.map((o) => [o.name, o.bytes.toString("base64")]),
    );

    const afterAll = await storedDocuments(env.clients, thrice);
    expect(afterAll).toEqual(afterFirstPass); // not rewritten, timestamps included
    const onceDocs = withoutTimes(await storedDocuments(env.clients, once));
    const thriceDocs = withoutTimes(afterAll);
    // The claiming session differs (chunks came from three sessions); everything else is identical.
    const sessionless = (docs: Record<string, Record<string, unknown>>) =>
      Object.fromEntries(Object.entries(docs).map(([k, { session_id: _s, ...v }]) => [k, v]));
    expect(sessionless(thriceDocs)).toEqual(sessionless(onceDocs));
    expect(Object.keys(thriceDocs).filter((k) => k.startsWith("chunks/"))).toHaveLength(6);
    expect(thriceDocs["chunks/00000005"]).toMatchObject({
      index: 5,
      start: 16000,
      end: 17400,
      final: true,
      bytes: 1400,
      samples: 700,
    });
    expect(worker.logs.find("ERROR")).toEqual([]);
  });

  it("writes nothing for a message tagged environment=prod, dead-letters it and logs an error", async () => {
    const conversationId = uniqueConversationId("wrongenv");
    const message = chunkMessage(
      stream(conversationId, { environment: "prod" }),
      { index: 0, start: 0, end: 3200, final: false },
      pcm16Noise(1600),
    );

    await persist(deliveryOf(env.resources, "audio", message));

    expect(await storedObjects(env.clients, conversationId)).toEqual([]);
    expect(await storedDocuments(env.clients, conversationId)).toEqual({});
    // Without `count`, pulls until the subscription stays quiet: exactly one dead letter.
    const [deadLetter, ...more] = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter);
    expect(more).toEqual([]);
    expect(deadLetter?.data.equals(message.data)).toBe(true);
    expect(deadLetter?.attributes).toMatchObject({
      ...message.attributes,
      rejection_reason: "wrong_environment",
      rejected_by: "persist-audio",
    });
    const [line] = worker.logs.find("ERROR", { conversation_id: conversationId });
    expect(line).toMatchObject({
      environment: env.resources.environment,
      rejection_reason: "wrong_environment",
      message_environment: "prod",
    });
  });

  it("dead-letters a message with an invalid schema and writes nothing", async () => {
    const conversationId = uniqueConversationId("badschema");
    const good = chunkMessage(
      stream(conversationId),
      { index: 1, start: 3200, end: 6400, final: false },
      pcm16Noise(1600),
    );
    const message = { data: good.data, attributes: { ...good.attributes, start: "100" } };

    await persist(deliveryOf(env.resources, "audio", message));

    expect(await storedObjects(env.clients, conversationId)).toEqual([]);
    expect(await storedDocuments(env.clients, conversationId)).toEqual({});
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 1 });
    expect(dead.map((m) => [m.attributes.conversation_id, m.attributes.rejection_reason])).toEqual([
      [conversationId, "invalid_schema"],
    ]);
    expect(
      worker.logs.find("ERROR", { conversation_id: conversationId, rejection_reason: "invalid_schema" }),
    ).toHaveLength(1);
  });

  it("keeps the first bytes of a chunk when different bytes are re-sent, and dead-letters the re-send", async () => {
    const conversationId = uniqueConversationId("conflict");
    const range = { index: 0, start: 0, end: 3200, final: false };
    const first = chunkMessage(stream(conversationId), range, pcm16Noise(1600, 1));
    const second = chunkMessage(stream(conversationId), range, pcm16Noise(1600, 2), "session-2");

    await persist(deliveryOf(env.resources, "audio", first));
    await persist(deliveryOf(env.resources, "audio", second));

    const objects = await storedObjects(env.clients, conversationId);
    expect(objects.map((o) => o.bytes.equals(first.data))).toEqual([true]);
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 1 });
    expect(dead.map((m) => [m.attributes.rejection_reason, m.data.equals(second.data)])).toEqual([
      ["chunk_conflict", true],
    ]);
  });

  it("has Storage refuse a second create of an object (ifGenerationMatch 0), as deployed", async () => {
    const file = env.clients.bucket.file(`conversations/${uniqueConversationId("precondition")}/probe`);
    const create = (bytes: Buffer) =>
      file.save(bytes, { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }).then(
        () => "created",
        (error: { code?: unknown }) => error.code,
      );
    const outcomes = await Promise.all([1, 2, 3].map((n) => create(Buffer.alloc(64, n))));
    expect(outcomes.sort()).toEqual([412, 412, "created"]);
    const [stored] = await file.download();
    expect(await create(Buffer.alloc(64, 9))).toBe(412);
    expect((await file.download())[0]).toEqual(stored);
  });

  it("stores exactly one of two different versions of a chunk delivered concurrently, consistently with its index", async () => {
    const conversationId = uniqueConversationId("race");
    const range = { index: 0, start: 0, end: 3200, final: false };
    const versions = [1, 2, 3, 4].map((seed) =>
      chunkMessage(stream(conversationId), range, pcm16Noise(1600, seed), `session-${seed}`),
    );

    await Promise.all(versions.map((v) => persist(deliveryOf(env.resources, "audio", v))));

    const objects = await storedObjects(env.clients, conversationId);
    const docs = await storedDocuments(env.clients, conversationId);
    expect(objects).toHaveLength(1);
    const winner = versions.findIndex((v) => v.data.equals(objects[0]?.bytes ?? Buffer.alloc(0)));
    expect(winner).toBeGreaterThanOrEqual(0);
    expect(docs["chunks/00000000"]).toMatchObject({
      sha256: objects[0]?.metadata.sha256,
      session_id: `session-${winner + 1}`,
    });
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 3 });
    expect(dead.map((m) => m.attributes.rejection_reason)).toEqual([
      "chunk_conflict",
      "chunk_conflict",
      "chunk_conflict",
    ]);
  });

  it("refuses a chunk that contradicts its conversation document, and one past the final position", async () => {
    const conversationId = uniqueConversationId("mismatch");
    await seedPcm16(conversationId, { status: "finalizing", finalPosition: 3200 });
    const otherUser = chunkMessage(
      stream(conversationId, { userId: "user-b" }),
      { index: 0, start: 0, end: 3200, final: true },
      pcm16Noise(1600),
    );
    const pastTheEnd = chunkMessage(
      stream(conversationId),
      { index: 1, start: 3200, end: 6400, final: false },
      pcm16Noise(1600),
    );

    await persist(deliveryOf(env.resources, "audio", otherUser));
    await persist(deliveryOf(env.resources, "audio", pastTheEnd));

    // Each was written, then removed again once the read after the write found it contradicting.
    expect(await storedObjects(env.clients, conversationId)).toEqual([]);
    const docs = Object.keys(await storedDocuments(env.clients, conversationId));
    expect(docs.filter((k) => k.startsWith("chunks/"))).toEqual([]);
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 2 });
    expect(dead.map((m) => m.attributes.rejection_reason).sort()).toEqual([
      "beyond_final_position",
      "conversation_mismatch",
    ]);
  });

  it("removes a chunk found past the final position on its redelivery, and a contradicting chunk each time it is written", async () => {
    const id = uniqueConversationId("zombie");
    await seedPcm16(id);
    const [first, second] = chunkMessages(stream(id), pcm16Noise(3200)) as [OutgoingMessage, OutgoingMessage];
    // A superseded socket's chunk 1, stored while the conversation streamed; then it ends at 3200.
    await persist(deliveryOf(env.resources, "audio", second));
    await beginFinalizeAsIngress(worker.runtime, id, {
      finalPosition: 3200,
      reason: "client",
      sessionId: "session-1",
      eventsConfirmed: 0,
    });
    await persist(deliveryOf(env.resources, "audio", first));
    expect((await storedDocuments(env.clients, id))["."]).toMatchObject({ status: "finalized" });
    await persist(deliveryOf(env.resources, "audio", second)); // its redelivery: removed now
    const otherUser = chunkMessage(
      stream(id, { userId: "user-b" }),
      { index: 2, start: 6400, end: 9600, final: true },
      pcm16Noise(1600, 3),
    );
    for (let i = 0; i < 2; i += 1) await persist(deliveryOf(env.resources, "audio", otherUser));

    expect((await storedObjects(env.clients, id)).map((o) => o.name)).toEqual(["chunks/00000000.pcm"]);
    const docs = Object.keys(await storedDocuments(env.clients, id)).filter((k) => k.startsWith("chunks/"));
    expect(docs).toEqual(["chunks/00000000"]);
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 3 });
    expect(dead.map((m) => [m.attributes.chunk_index, m.attributes.rejection_reason]).sort()).toEqual([
      ["1", "beyond_final_position"],
      ["2", "conversation_mismatch"],
      ["2", "conversation_mismatch"],
    ]);
  });

  it("purges again what a chunk wrote after the purge, from its read of the conversation after the write", async () => {
    const id = uniqueConversationId("del-race");
    await seedPcm16(id);
    const [first, second] = chunkMessages(stream(id), pcm16Noise(3200)) as [OutgoingMessage, OutgoingMessage];
    await persist(deliveryOf(env.resources, "audio", first));
    const slowed = holdUpload(forComponent(worker.runtime, "persist-audio"), chunkObjectName(id, 1, "pcm16"));
    const late = createPersistAudioHandler(slowed.runtime)(deliveryOf(env.resources, "audio", second));
    await slowed.held; // its write waits; it reads the conversation after it

    // The deletion path: the API's tombstone, then the delete-data worker's purge.
    const db = env.clients.firestore;
    expect((await requestDeletion(db, id, { userId: "user-a", reason: "request" })).kind).toBe("requested");
    const deleteData = createDeleteDataHandler(forComponent(worker.runtime, "delete-data"));
    const body = { kind: "conversation", conversation_id: id } as const;
    await deleteData(deliveryOf(env.resources, "deletion", deletionMessage(env.resources.environment, body)));
    expect(await footprintOf(db, env.clients.bucket, id)).toEqual(ONLY_THE_TOMBSTONE);

    slowed.release();
    await late;
    expect(await footprintOf(db, env.clients.bucket, id)).toEqual(ONLY_THE_TOMBSTONE);
    const purgedAgain = "the conversation was deleted while this message was handled; purging again what it wrote";
    expect(worker.logs.find("WARNING", { conversation_id: id, message: purgedAgain })).toHaveLength(1);
  });

  it("dead-letters an event that is not a Pub/Sub message at all", async () => {
    const event = {
      ...deliveryOf(
        env.resources,
        "audio",
        chunkMessage(stream("conv-malformed"), { index: 0, start: 0, end: 2, final: true }, Buffer.alloc(2)),
      ),
      data: { nonsense: true },
    };
    await persist(event);
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 1 });
    expect(dead.map((m) => [m.attributes.rejection_reason, m.data.toString()])).toEqual([
      ["malformed_event", '{"nonsense":true}'],
    ]);
  });
});
