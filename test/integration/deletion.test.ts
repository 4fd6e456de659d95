/**
 * Deleting a conversation through the local stack (PROTOCOL section 3): the real ingress,
 * workers and API on the emulators. After a delete every store is listed and only the
 * tombstone is left; a redelivered chunk or event stores nothing; a delete in the middle of
 * a stream ends in the same state; a profile no longer uses the conversation's samples;
 * retention deletes through the same path.
 */
import { Timestamp } from "@google-cloud/firestore";
import { createDeletionGuard } from "../../functions/deletion/guard";
import { createRuntime } from "../../functions/runtime";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import { loadSettings } from "../../shared/config";
import { deletionMessage } from "../../shared/deletion-messages";
import { environmentResources, parseEnvironmentName } from "../../shared/environment";
import { COLLECTIONS, type ConversationDoc, conversationRef, personRef, userKey } from "../../shared/firestore-schema";
import { createGcpClients, type GcpClients } from "../../shared/gcp-clients";
import { chunkObjectName, personSampleObjectName } from "../../shared/storage-paths";
import { footprintOf, ONLY_THE_TOMBSTONE } from "../support/deletion-stores";
import { eventually } from "../support/poll";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";
import { captureLogs } from "../support/workers-logs";
import { chunkMessage, eventMessage, pcm16Noise } from "../support/workers-messages";
import { ProtocolSocket } from "../support/workers-socket";

const USER = "user-del";
const sampleObject = (sampleId: string) => personSampleObjectName("p-del", userKey(USER), sampleId);

describe("DELETE /v1/conversations/{id}", () => {
  let stack: RunningStack;
  let clients: GcpClients;
  const logs = captureLogs();
  const environment = parseEnvironmentName(uniqueEnvironmentName("del"));
  let token: string;
  let state: RunningStack["state"]["envs"][string];

  const api = (path: string, method = "GET") =>
    fetch(`${state.api_url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  const url = () => `${state.ingress_url}?codec=pcm16&sample_rate=16000`;
  const footprint = (id: string) => footprintOf(clients.firestore, clients.bucket, id);
  const onlyTombstoneLeft = (id: string) =>
    eventually(async () => {
      const left = await footprint(id);
      return JSON.stringify(left) === JSON.stringify(ONLY_THE_TOMBSTONE) ? left : undefined;
    }, `only the tombstone of ${id} to be left`);

  beforeAll(async () => {
    stack = await startLocalStack({
      environments: [environment],
      ...onRunningEmulators(),
      chunkSeconds: 0.25,
      logger: logs.logger,
    });
    const entry = stack.state.envs[environment];
    if (!entry) throw new Error("environment missing from the stack state");
    state = entry;
    token = await signAccessToken(state.token_secret, USER);
    clients = createGcpClients(environmentResources(environment, state.project_id));
  });
  afterAll(async () => {
    await clients?.close();
    await stack?.stop();
  });

  it("leaves only the tombstone, strips the profile, and stores nothing from a redelivered chunk or event", async () => {
    const audio = pcm16Noise(20_000, 3);
    const socket = await ProtocolSocket.open(url(), token);
    const ready = await socket.next("ready");
    const id = ready.conversation_id as string;
    socket.sendAudio(audio);
    socket.sendJson({
      type: "segments",
      segments: [{ id: "s1", start: 0, end: 0.5, text: "hi", speaker: "SPEAKER_00", is_user: true, person_id: null }],
    });
    socket.sendJson({ type: "speaker_assigned", person_id: "p-del", segment_ids: ["s1"] });
    socket.sendJson({ type: "finalize" });
    await socket.next("finalized");
    await eventually(async () => {
      const body = (await (await api(`/v1/conversations/${id}`)).json()) as { status?: string };
      return body.status === "finalized";
    }, "the conversation to be finalized");

    // A profile with a sample of this conversation and one of another, as extraction writes them.
    const unit = (x: number, y: number) => ({ model: "m", dim: 2, vector: [x, y] });
    const sample = (sampleId: string, conversationId: string, embedding: ReturnType<typeof unit>) => ({
      uri: `gs://${state.bucket}/${sampleObject(sampleId)}`,
      sample_id: sampleId,
      conversation_id: conversationId,
      segment_ids: ["s1"],
      duration_ms: 10_000,
      embedding,
    });
    await personRef(clients.firestore, USER, "p-del").set({
      id: "p-del",
      user_id: USER,
      samples: [sample("from-deleted", id, unit(1, 0)), sample("from-other", "conv-other", unit(0, 1))],
      embedding: unit(Math.SQRT1_2, Math.SQRT1_2),
      updated_at: Timestamp.now(),
    });
    for (const [sampleId, conversationId] of [
      ["from-deleted", id],
      ["from-other", "conv-other"],
    ] as const) {
      await clients.bucket.file(sampleObject(sampleId)).save(Buffer.from("RIFF"), {
        resumable: false,
        metadata: { metadata: { conversation_id: conversationId, person_id: "p-del", sample_id: sampleId } },
      });
    }

    const deleted = await api(`/v1/conversations/${id}`, "DELETE");
    expect(deleted.status).toBe(202);
    expect(await deleted.json()).toEqual({ id, status: "deleting" });
    expect((await api(`/v1/conversations/${id}`)).status).toBe(404);
    expect((await api(`/v1/conversations/${id}`, "DELETE")).status).toBe(202); // idempotent

    await onlyTombstoneLeft(id);
    const person = (await (await api("/v1/people/p-del")).json()) as {
      samples: Array<{ conversation_id: string }>;
      embedding: unknown;
    };
    expect(person.samples.map((s) => s.conversation_id)).toEqual(["conv-other"]);
    const [profile] = await Promise.all([personRef(clients.firestore, USER, "p-del").get()]);
    expect(profile.data()?.embedding?.vector).toEqual([0, 1]);
    const [otherStillThere] = await clients.bucket.file(sampleObject("from-other")).exists();
    expect(otherStillThere).toBe(true);

    // Late deliveries: the first chunk and a segments event, as the ingress published them.
    const stream = {
      environment,
      conversationId: id,
      userId: USER,
      codec: "pcm16" as const,
      sampleRate: 16000 as const,
      chunkSize: 8000,
    };
    const resources = environmentResources(environment, state.project_id);
    await clients.pubsub
      .topic(resources.topics.audio)
      .publishMessage(chunkMessage(stream, { index: 0, start: 0, end: 8000, final: false }, audio.subarray(0, 8000)));
    await clients.pubsub.topic(resources.topics.events).publishMessage(
      eventMessage(stream, "late-session", {
        type: "segments",
        segments: [{ id: "s9", start: 0, end: 1, text: "late", speaker: "SPEAKER_00", is_user: true, person_id: null }],
      }),
    );
    // The event is refused before any write; the chunk is written, then purged again.
    const lateLine = (message: string) => logs.lines.some((l) => l.conversation_id === id && l.message === message);
    await eventually(
      async () =>
        lateLine("message for a deleted conversation: nothing stored") &&
        lateLine("chunk of a deleted conversation: written, then purged again"),
      "both late messages to be done with",
    );
    // Not a one-off look: a first delivery of the stream's own chunks that was answered 500
    // under load comes again after the purge too, and is written, then purged again.
    await onlyTombstoneLeft(id);

    // An event's write that raced the purge: the events worker may not touch the bucket, so
    // its guard asks the delete-data worker to purge again.
    await conversationRef(clients.firestore, id).collection(COLLECTIONS.segments).doc("raced").set({ id: "raced" });
    const eventsRuntime = createRuntime(
      loadSettings({
        TETHER_ENVIRONMENT: environment,
        TETHER_PROJECT_ID: state.project_id,
        TETHER_TOKEN_SECRET: state.token_secret,
      }),
      logs.logger,
    );
    const guard = createDeletionGuard(eventsRuntime, "events");
    try {
      expect(await guard.sweepIfDeleted(id, logs.logger)).toBe(true);
      await onlyTombstoneLeft(id);
      // The same, decided from a record read after the write (deleted_at, from the tombstone's batch).
      await conversationRef(clients.firestore, id).collection(COLLECTIONS.segments).doc("raced").set({ id: "raced" });
      const record = { user_id: USER, deleted_at: Timestamp.now() };
      expect(await guard.sweepIfDeleted(id, logs.logger, { record })).toBe(true);
      expect(await guard.sweepIfDeleted(id, logs.logger, { record: { user_id: USER } })).toBe(false);
    } finally {
      await eventsRuntime.clients.close();
    }
    await onlyTombstoneLeft(id);

    // Never resumed: 4410 with finalize_reason deleted.
    const resume = await ProtocolSocket.open(`${url()}&resume_token=${ready.resume_token as string}`, token);
    expect(await resume.next("error")).toMatchObject({ code: "conversation_finalized", finalize_reason: "deleted" });
  });

  it("ends a delete in the middle of a stream in the same state: the socket hears 4410 deleted", async () => {
    const audio = pcm16Noise(40_000, 5);
    const socket = await ProtocolSocket.open(url(), token);
    const ready = await socket.next("ready");
    const id = ready.conversation_id as string;
    socket.sendAudio(audio.subarray(0, 24_000));
    await socket.next("ack", (m) => (m.position as number) >= 16_000);

    expect((await api(`/v1/conversations/${id}`, "DELETE")).status).toBe(202);
    socket.sendAudio(audio.subarray(24_000));
    expect(await socket.next("error")).toMatchObject({ code: "conversation_finalized", finalize_reason: "deleted" });

    await onlyTombstoneLeft(id);
    expect((await api(`/v1/conversations/${id}`)).status).toBe(404);
  });

  it("deletes expired conversations through the same path when the retention run is published", async () => {
    const db = clients.firestore;
    const old = Timestamp.fromMillis(Date.now() - 40 * 24 * 3600 * 1000);
    const record = (id: string, at: Timestamp): ConversationDoc => ({
      id,
      environment,
      user_id: USER,
      codec: "pcm16",
      sample_rate: 16000,
      channels: 1,
      chunk_size: 8000,
      durable_position: 8000,
      status: "finalized",
      final_position: 8000,
      finalize_reason: "client",
      created_at: at,
      updated_at: at,
      finalized_at: at,
    });
    const expired = `conv-expired-${Date.now()}`;
    const recent = `conv-recent-${Date.now()}`;
    for (const [id, at] of [
      [expired, old],
      [recent, Timestamp.now()],
    ] as const) {
      await conversationRef(db, id).set(record(id, at));
      await clients.bucket.file(chunkObjectName(id, 0, "pcm16")).save(Buffer.alloc(8000), { resumable: false });
    }

    const resources = environmentResources(environment, state.project_id);
    await clients.pubsub
      .topic(resources.topics.deletion)
      .publishMessage(deletionMessage(environment, { kind: "retention", retention_days: 30 }));

    await onlyTombstoneLeft(expired);
    const kept = await footprint(recent);
    expect(kept).toMatchObject({ record: true, tombstone: false, objects: [chunkObjectName(recent, 0, "pcm16")] });
  });
});
