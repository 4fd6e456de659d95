/**
 * No API answer reads an unbounded number of documents (issue 28): through the real API on
 * the emulators, with Firestore's reads counted at the client's own request funnel (the
 * counters the cost bench uses too, test/support/cost-counters.ts), a conversation's status
 * reads the same number of documents (7) for 50 chunks as for 3,001 (O(log n) more with a gap), a segments
 * page reads its page, and a history reads up to its caps. A conversation whose Opus chunk
 * records predate their `samples` field still answers right; its first answer writes the
 * field back, so every later one takes the bounded path.
 */
import { type DocumentReference, FieldValue, Timestamp } from "@google-cloud/firestore";
import OpusScript from "opusscript";
import { HISTORY_CAPS } from "../../functions/api/history";
import { startApi } from "../../functions/api/server";
import { createPersistAudioHandler } from "../../functions/persist-audio/handler";
import { forComponent, type RunningService } from "../../functions/runtime";
import { signAccessToken } from "../../shared/auth";
import { chunkRef, segmentRef } from "../../shared/firestore-schema";
import { counts, emptyCounts, installCounters } from "../support/cost-counters";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import { type ChunkStream, chunkMessages, deliveryOf, pcm16Noise } from "../support/workers-messages";
import {
  createWorkerTestRuntime,
  seedConversation,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";

const CHUNK_BYTES = 32_000; // 1 s of pcm16 at 16 kHz

describe("API reads stay bounded, whatever the conversation's size", () => {
  let env: TestEnvironment;
  let worker: WorkerTestRuntime;
  let api: RunningService;
  let token: string;

  beforeAll(async () => {
    installCounters();
    env = await createTestEnvironment("abr");
    worker = createWorkerTestRuntime(env);
    api = await startApi(forComponent(worker.runtime, "api"), { host: "127.0.0.1", port: 0 });
    token = await signAccessToken(worker.tokenSecret, "user-big");
  });
  afterAll(async () => {
    await api?.close();
    await worker?.close();
    await env?.close();
  });

  /** The answer to GET `path`, with the Firestore documents the API read for it. */
  const readsOf = async (path: string) => {
    Object.assign(counts, emptyCounts());
    const response = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    return { body, reads: counts.firestoreReads, byCollection: { ...counts.firestoreByCollection } };
  };

  const writeAll = async (docs: ReadonlyArray<readonly [DocumentReference, Record<string, unknown>]>) => {
    const db = worker.runtime.clients.firestore;
    const batches = [];
    for (let i = 0; i < docs.length; i += 500) {
      const batch = db.batch();
      for (const [ref, data] of docs.slice(i, i + 500)) batch.set(ref, data);
      batches.push(batch.commit());
    }
    await Promise.all(batches);
  };

  /** A pcm16 conversation of `chunks` one-second chunk records (no audio objects: the status reads none). */
  const pcmConversation = async (chunks: number, options: { missing?: number; segments?: number } = {}) => {
    const id = uniqueConversationId("big");
    const db = worker.runtime.clients.firestore;
    await seedConversation(worker.runtime, {
      id,
      userId: "user-big",
      codec: "pcm16",
      sampleRate: 16000,
      chunkSize: CHUNK_BYTES,
    });
    const persisted_at = Timestamp.now();
    await writeAll([
      ...Array.from({ length: chunks }, (_, index) => index)
        .filter((index) => index !== options.missing)
        .map(
          (index) =>
            [
              chunkRef(db, id, index),
              {
                index,
                start: index * CHUNK_BYTES,
                end: (index + 1) * CHUNK_BYTES,
                final: index === chunks - 1,
                object: `conversations/${id}/chunks/${index}.pcm`,
                bytes: CHUNK_BYTES,
                sha256: "0".repeat(64),
                session_id: "session-1",
                persisted_at,
                samples: CHUNK_BYTES / 2,
              },
            ] as const,
        ),
      ...Array.from(
        { length: options.segments ?? 0 },
        (_, i) =>
          [
            segmentRef(db, id, `seg-${i}`),
            {
              id: `seg-${i}`,
              start: i,
              end: i + 1,
              text: "",
              speaker: null,
              is_user: false,
              person_id: null,
              session_id: "session-1",
              updated_at: persisted_at,
            },
          ] as const,
      ),
    ]);
    return id;
  };

  it("answers a conversation's status with the same reads for 50 chunks as for 3,001, and O(log n) more with a gap", async () => {
    const [small, big, gapped] = await Promise.all([
      pcmConversation(50, { segments: 5 }),
      pcmConversation(HISTORY_CAPS.chunks + 1, { segments: 150 }),
      pcmConversation(300, { missing: 123 }),
    ]);
    const smallView = await readsOf(`/v1/conversations/${small}`);
    const bigView = await readsOf(`/v1/conversations/${big}`);
    const gappedView = await readsOf(`/v1/conversations/${gapped}`);
    expect(smallView.body).toMatchObject({ position: 50 * CHUNK_BYTES, duration_ms: 50_000, segments: 5 });
    expect(bigView.body).toMatchObject({
      position: (HISTORY_CAPS.chunks + 1) * CHUNK_BYTES,
      duration_ms: (HISTORY_CAPS.chunks + 1) * 1000,
      segments: 150,
    });
    // The audio stops at the first missing chunk.
    expect(gappedView.body).toMatchObject({ position: 123 * CHUNK_BYTES, duration_ms: 123_000, segments: 0 });

    expect(bigView.reads).toBe(smallView.reads);
    expect(smallView.reads).toBeLessThanOrEqual(10);
    expect(bigView.byCollection["reads:chunks"] ?? 0).toBeLessThanOrEqual(1); // the last chunk's record, no listing
    expect(gappedView.reads).toBeLessThanOrEqual(smallView.reads + Math.ceil(Math.log2(300)));

    // A segments page reads its page (and its assignments), not all of the conversation's segments.
    const page = await readsOf(`/v1/conversations/${big}/segments?limit=100`);
    expect(page.body.segments).toHaveLength(100);
    expect(page.body.next_cursor).toEqual(expect.any(String));
    expect(page.reads).toBeLessThanOrEqual(2 + 2 * 101);

    // The history lists up to its caps and says what it cut.
    const history = await readsOf(`/v1/conversations/${big}/history`);
    expect(history.body.truncated).toEqual(["chunks"]);
    expect(history.byCollection["reads:chunks"]).toBe(HISTORY_CAPS.chunks + 1);
    const caps = HISTORY_CAPS.chunks + HISTORY_CAPS.appliedEvents + HISTORY_CAPS.deliveries;
    expect(history.reads).toBeLessThanOrEqual(1 + 100 + caps + 3);
  });

  it("answers an Opus conversation whose chunk records lack `samples`, then reads it as boundedly as any", async () => {
    const id = uniqueConversationId("legacy");
    const rate = 48000;
    const db = worker.runtime.clients.firestore;
    await seedConversation(worker.runtime, { id, userId: "user-big", codec: "opus", sampleRate: rate, chunkSize: 25 });
    // 40 ms packets: a reader that guessed Opus's common 20 ms would answer half the duration.
    const encoder = new OpusScript(rate, 1, OpusScript.Application.AUDIO);
    const pcm = pcm16Noise(60 * 1920, 5);
    const packets = Array.from({ length: 60 }, (_, i) => encoder.encode(pcm.subarray(i * 3840, (i + 1) * 3840), 1920));
    encoder.delete();
    const persist = createPersistAudioHandler(forComponent(worker.runtime, "persist-audio"));
    const stream: ChunkStream = {
      environment: env.resources.environment,
      conversationId: id,
      userId: "user-big",
      codec: "opus",
      sampleRate: rate,
      chunkSize: 25,
    };
    for (const message of chunkMessages(stream, packets)) await persist(deliveryOf(env.resources, "audio", message));
    const expected = { codec: "opus", position: 60, duration_ms: 2400 };
    const current = await readsOf(`/v1/conversations/${id}`);
    expect(current.body).toMatchObject(expected);

    // As a persist-audio from before the field wrote them.
    for (const index of [0, 1]) await chunkRef(db, id, index).update({ samples: FieldValue.delete() });
    const legacy = await readsOf(`/v1/conversations/${id}`);
    expect(legacy.body).toMatchObject(expected);
    const written = await Promise.all(
      [0, 1, 2].map(async (index) => (await chunkRef(db, id, index).get()).get("samples")),
    );
    expect(written).toEqual([25 * 1920, 25 * 1920, 10 * 1920]);

    const after = await readsOf(`/v1/conversations/${id}`);
    expect(after.body).toMatchObject(expected);
    expect(after.reads).toBe(current.reads);
  });
});
