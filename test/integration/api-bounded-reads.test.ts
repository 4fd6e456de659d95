/**
 * No API answer reads an unbounded number of documents (issue 28): through the real API on
 * the emulators, with Firestore's reads counted at the client's own request funnel (the
 * counters the cost bench uses too, test/support/cost-counters.ts), every route answers a
 * conversation of 3,001 chunk records and 600 segments with the same reads as one of 50
 * chunks and 120 segments, or within its stated cap:
 * - the status: a fixed number (O(log n) more with a gap in the audio);
 * - a segments page, the conversation list: their page; the history: its caps;
 * - the person, both DELETEs: one or two documents;
 * - the WAV: the conversation and its contiguous chunk records, which the ingress's
 *   `conversation_audio_seconds` limit caps (the answer is that audio).
 * Aggregations (counts, sums) are counted as one read; Firestore bills one per 1,000 index
 * entries. An Opus conversation whose chunk records predate their `samples` field has them
 * measured 100 per answer, and its duration says how many chunks it leaves out until then.
 */
import { type DocumentReference, Timestamp } from "@google-cloud/firestore";
import OpusScript from "opusscript";
import { HISTORY_CAPS } from "../../functions/api/history";
import { MAX_CHUNKS_MEASURED_PER_ANSWER } from "../../functions/api/served-audio";
import { startApi } from "../../functions/api/server";
import { forComponent, type RunningService } from "../../functions/runtime";
import { signAccessToken } from "../../shared/auth";
import { COLLECTIONS, chunkRef, type PersonDoc, personRef, segmentRef } from "../../shared/firestore-schema";
import { counts, emptyCounts, installCounters } from "../support/cost-counters";
import { seedConversation as seedChunkedConversation } from "../support/extract-conversation";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import { pcm16Noise } from "../support/workers-messages";
import {
  createWorkerTestRuntime,
  seedConversation,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";

const CHUNK_BYTES = 32_000; // 1 s of pcm16 at 16 kHz
const USER = "user-big";

/** Reads by collection, as the counters key them (`reads:chunks`). */
const readsIn = (byCollection: Partial<Record<keyof typeof COLLECTIONS, number>>) =>
  Object.fromEntries(
    Object.entries(byCollection).map(([name, n]) => [`reads:${COLLECTIONS[name as keyof typeof COLLECTIONS]}`, n]),
  );

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
    token = await signAccessToken(worker.tokenSecret, USER);
  });
  afterAll(async () => {
    await api?.close();
    await worker?.close();
    await env?.close();
  });

  /** The answer to `method path`, with the Firestore documents the API read (and wrote) for it. */
  const readsOf = async (path: string, method = "GET", status = method === "DELETE" ? 202 : 200) => {
    Object.assign(counts, emptyCounts());
    const response = await fetch(`${api.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(status);
    const body = (method === "HEAD" ? {} : await response.json()) as Record<string, unknown>;
    return {
      body,
      headers: response.headers,
      reads: counts.firestoreReads,
      writes: counts.firestoreWrites,
      byCollection: Object.fromEntries(
        Object.entries(counts.firestoreByCollection).filter(([key]) => key.startsWith("reads:")),
      ),
    };
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

  /** A pcm16 conversation of `chunks` one-second chunk records (no audio objects: no answer here reads one). */
  const pcmConversation = async (chunks: number, options: { missing?: number; segments?: number } = {}) => {
    const id = uniqueConversationId("big");
    const db = worker.runtime.clients.firestore;
    await seedConversation(worker.runtime, {
      id,
      userId: USER,
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

  it("answers every route about a conversation of 3,001 chunks with the reads of one of 50, or within its cap", async () => {
    const [small, big, gapped] = await Promise.all([
      pcmConversation(50, { segments: 120 }),
      pcmConversation(HISTORY_CAPS.chunks + 1, { segments: 600 }),
      pcmConversation(300, { missing: 123 }),
    ]);
    /** Every read answer about conversation `id`. */
    const answers = async (id: string) => ({
      status: await readsOf(`/v1/conversations/${id}`),
      page: await readsOf(`/v1/conversations/${id}/segments?limit=100`),
      history: await readsOf(`/v1/conversations/${id}/history`),
      wav: await readsOf(`/v1/conversations/${id}/audio.wav`, "HEAD"),
    });
    const smallAnswers = await answers(small);
    const bigAnswers = await answers(big);
    const gappedView = await readsOf(`/v1/conversations/${gapped}`);

    expect(smallAnswers.status.body).toMatchObject({ position: 50 * CHUNK_BYTES, duration_ms: 50_000, segments: 120 });
    expect(bigAnswers.status.body).toMatchObject({
      position: (HISTORY_CAPS.chunks + 1) * CHUNK_BYTES,
      duration_ms: (HISTORY_CAPS.chunks + 1) * 1000,
      segments: 600,
    });
    expect(bigAnswers.status.body).not.toHaveProperty("duration_unmeasured_chunks");
    // The audio stops at the first missing chunk.
    expect(gappedView.body).toMatchObject({ position: 123 * CHUNK_BYTES, duration_ms: 123_000, segments: 0 });

    // The status: the conversation, its sessions (at most 100), one chunk record, aggregations.
    expect(bigAnswers.status.reads).toBe(smallAnswers.status.reads);
    expect(smallAnswers.status.reads).toBeLessThanOrEqual(10);
    expect(bigAnswers.status.byCollection["reads:chunks"] ?? 0).toBeLessThanOrEqual(1); // the last chunk's record
    expect(gappedView.reads).toBeLessThanOrEqual(smallAnswers.status.reads + Math.ceil(Math.log2(300)));

    // A segments page: its 100 segments (and one more, for the cursor) and their 100 assignments.
    for (const { page } of [smallAnswers, bigAnswers]) {
      expect(page.body.segments).toHaveLength(100);
      expect(page.body.next_cursor).toEqual(expect.any(String));
    }
    expect(bigAnswers.page.reads).toBe(smallAnswers.page.reads);
    expect(bigAnswers.page.byCollection).toEqual(
      readsIn({
        conversations: 1,
        segments: 101,
        speakerAssignments: 100,
      }),
    );

    // The history lists up to its caps and says what it cut.
    expect(smallAnswers.history.body.truncated).toEqual([]);
    expect(bigAnswers.history.body.truncated).toEqual(["chunks"]);
    expect(bigAnswers.history.byCollection["reads:chunks"]).toBe(HISTORY_CAPS.chunks + 1);
    const caps = HISTORY_CAPS.chunks + HISTORY_CAPS.appliedEvents + HISTORY_CAPS.deliveries;
    expect(bigAnswers.history.reads).toBeLessThanOrEqual(1 + 100 + caps + 3);

    // The WAV: the conversation and its chunk records, nothing else (its length is the audio's).
    expect(smallAnswers.wav.headers.get("content-length")).toBe(String(44 + 50 * CHUNK_BYTES));
    expect(smallAnswers.wav.byCollection).toEqual(readsIn({ conversations: 1, chunks: 50 }));
    expect(bigAnswers.wav.byCollection).toEqual(readsIn({ conversations: 1, chunks: HISTORY_CAPS.chunks + 1 }));

    // Deleting: the conversation and its tombstone, whatever lies under them.
    const smallDelete = await readsOf(`/v1/conversations/${small}`, "DELETE");
    const bigDelete = await readsOf(`/v1/conversations/${big}`, "DELETE");
    expect(bigDelete.reads).toBe(smallDelete.reads);
    expect(bigDelete.byCollection).toEqual(readsIn({ conversations: 1, tombstones: 1 }));
    expect(bigDelete.writes).toBe(2); // the purge, a worker's, deletes the rest
  });

  it("lists conversations a page at a time, and reads a person as one document", async () => {
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        seedConversation(worker.runtime, {
          id: uniqueConversationId(`many${i}`),
          userId: USER,
          codec: "pcm16",
          sampleRate: 16000,
          chunkSize: CHUNK_BYTES,
        }),
      ),
    );
    const page = await readsOf("/v1/conversations?limit=5");
    expect(page.body.conversations).toHaveLength(5);
    expect(page.body.next_cursor).toEqual(expect.any(String));
    expect(page.byCollection).toEqual(readsIn({ conversations: 6 }));
    const next = await readsOf(`/v1/conversations?limit=5&cursor=${String(page.body.next_cursor)}`);
    expect(next.byCollection).toEqual(readsIn({ conversations: 6 }));

    const person: PersonDoc = {
      id: "p-full",
      user_id: USER,
      samples: Array.from({ length: 20 }, (_, i) => ({
        uri: `gs://${env.resources.bucket}/people/p-full/samples/s${i}.wav`,
        sample_id: `s${i}`,
        conversation_id: `c-${i}`,
        segment_ids: [`seg-${i}`],
        duration_ms: 3000,
      })),
      embedding: { model: "wespeaker-resnet34", dim: 2, vector: [0.5, 0.5] },
      updated_at: Timestamp.now(),
    };
    await personRef(worker.runtime.clients.firestore, USER, "p-full").set(person);
    const profile = await readsOf("/v1/people/p-full");
    expect(profile.body.samples).toHaveLength(20);
    expect(profile.byCollection).toEqual(readsIn({ people: 1 }));
    const deleted = await readsOf("/v1/people/p-full", "DELETE");
    expect(deleted.byCollection).toEqual(readsIn({ people: 1 }));
  });

  it("measures an Opus conversation's chunk records that lack `samples` 100 per answer, and says what it left out", async () => {
    const conversationId = uniqueConversationId("legacy");
    const rate = 48000;
    const chunks = MAX_CHUNKS_MEASURED_PER_ANSWER + 30;
    const db = worker.runtime.clients.firestore;
    // One 40 ms packet a chunk: a reader that guessed Opus's common 20 ms would answer half the duration.
    const encoder = new OpusScript(rate, 1, OpusScript.Application.AUDIO);
    const packet = encoder.encode(pcm16Noise(1920, 5), 1920);
    encoder.delete();
    // As a persist-audio from before the field wrote them, but for ten (which the first window skips).
    await seedChunkedConversation(worker.runtime, {
      conversationId,
      userId: USER,
      codec: "opus",
      sampleRate: rate,
      chunkSize: 1,
      audio: Array.from({ length: chunks }, () => packet),
      sessions: [{ id: "s1", firstChunk: 0 }],
      segments: [],
      withoutSamples: true,
    });
    const batch = db.batch();
    for (let index = 20; index < 30; index += 1) batch.update(chunkRef(db, conversationId, index), { samples: 1920 });
    await batch.commit();
    const whole = { codec: "opus", position: chunks, duration_ms: chunks * 40 };

    const first = await readsOf(`/v1/conversations/${conversationId}`);
    expect(first.body).toMatchObject({ ...whole, duration_ms: MAX_CHUNKS_MEASURED_PER_ANSWER * 40 });
    expect(first.body.duration_unmeasured_chunks).toBe(chunks - MAX_CHUNKS_MEASURED_PER_ANSWER);
    expect(first.byCollection["reads:chunks"]).toBe(1 + MAX_CHUNKS_MEASURED_PER_ANSWER); // the last one, the window
    // The bounded path's reads, the window, and a bisection's aggregations (two a step).
    expect(first.reads).toBeLessThanOrEqual(10 + MAX_CHUNKS_MEASURED_PER_ANSWER + 2 * Math.ceil(Math.log2(chunks)) + 2);

    const second = await readsOf(`/v1/conversations/${conversationId}`);
    expect(second.body).toMatchObject(whole);
    expect(second.body).not.toHaveProperty("duration_unmeasured_chunks");
    expect(second.byCollection["reads:chunks"]).toBe(1 + chunks - MAX_CHUNKS_MEASURED_PER_ANSWER);

    const written = await Promise.all(
      [0, 25, chunks - 1].map(async (index) => (await chunkRef(db, conversationId, index).get()).get("samples")),
    );
    expect(written).toEqual([1920, 1920, 1920]);
    const after = await readsOf(`/v1/conversations/${conversationId}`);
    expect(after.body).toMatchObject(whole);
    expect(after.byCollection["reads:chunks"]).toBe(1);
    expect(after.reads).toBeLessThanOrEqual(10);
  });
});
