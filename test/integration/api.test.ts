/**
 * The HTTP API (PROTOCOL.md section 3) against the emulators, fed by the real workers with
 * messages in the ingress's format: conversation status, segments across sessions, people,
 * and audio.wav with Range support, while in progress and after finalization.
 */
import { Timestamp } from "@google-cloud/firestore";
import OpusScript from "opusscript";
import { startApi } from "../../functions/api/server";
import { createEventsHandler } from "../../functions/events/handler";
import { createPersistAudioHandler } from "../../functions/persist-audio/handler";
import { forComponent, type RunningService } from "../../functions/runtime";
import { frameOpusPackets } from "../../shared/audio-format";
import { signAccessToken } from "../../shared/auth";
import { type PersonDoc, personRef } from "../../shared/firestore-schema";
import type { EventBody } from "../../shared/messages";
import { decodeOpusChunk } from "../../shared/opus-decoder";
import type { PubSubHandler } from "../../shared/pubsub-event";
import { chunkObjectName } from "../../shared/storage-paths";
import { decodePcm16MonoWav, parseWavHeader } from "../../shared/wav";
import { eventually } from "../support/poll";
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
  seedConversation,
  seedSession,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";

describe("HTTP API", () => {
  let env: TestEnvironment;
  let otherEnv: TestEnvironment;
  let worker: WorkerTestRuntime;
  let otherWorker: WorkerTestRuntime;
  let api: RunningService;
  let persist: PubSubHandler;
  let events: PubSubHandler;
  let tokenA: string;
  let tokenB: string;

  const get = (
    path: string,
    options: { token?: string | null; headers?: Record<string, string>; method?: string } = {},
  ) =>
    fetch(`${api.url}${path}`, {
      method: options.method ?? "GET",
      headers: {
        ...(options.token === null ? {} : { authorization: `Bearer ${options.token ?? tokenA}` }),
        ...options.headers,
      },
    });
  const bytes = async (response: Response) => Buffer.from(await response.arrayBuffer());
  const errorOf = async (response: Response) =>
    ((await response.json()) as { error: { code: string; message: string } }).error;
  const stream = (conversationId: string, overrides: Partial<ChunkStream> = {}): ChunkStream => ({
    environment: env.resources.environment,
    conversationId,
    userId: "user-a",
    codec: "pcm16",
    sampleRate: 16000,
    chunkSize: 16000,
    ...overrides,
  });
  const sendEvent = (conversationId: string, sessionId: string, body: EventBody) =>
    events(deliveryOf(env.resources, "events", eventMessage(stream(conversationId), sessionId, body)));
  const sendChunks = async (messages: readonly OutgoingMessage[]) => {
    for (const message of messages) await persist(deliveryOf(env.resources, "audio", message));
  };

  // A conversation streamed over three sessions (chunks 0-1, 2-3, 4), then finalized.
  const threeSessions = uniqueConversationId("three");
  const threeSessionsAudio = pcm16Noise(33234, 42); // 66,468 bytes: 4 chunks of 16,000 and one of 2,468
  let threeSessionsWav: Buffer;

  beforeAll(async () => {
    [env, otherEnv] = await Promise.all([createTestEnvironment("api"), createTestEnvironment("apo")]);
    worker = createWorkerTestRuntime(env);
    otherWorker = createWorkerTestRuntime(otherEnv);
    persist = createPersistAudioHandler(forComponent(worker.runtime, "persist-audio"));
    events = createEventsHandler(forComponent(worker.runtime, "events"));
    api = await startApi(forComponent(worker.runtime, "api"), { host: "127.0.0.1", port: 0 });
    tokenA = await signAccessToken(worker.tokenSecret, "user-a");
    tokenB = await signAccessToken(worker.tokenSecret, "user-b");

    await seedConversation(worker.runtime, {
      id: threeSessions,
      userId: "user-a",
      codec: "pcm16",
      sampleRate: 16000,
      chunkSize: 16000,
    });
    const sessionOf = (index: number) => (index < 2 ? "session-1" : index < 4 ? "session-2" : "session-3");
    for (const [i, session] of ["session-1", "session-2", "session-3"].entries()) {
      await seedSession(worker.runtime, threeSessions, {
        id: session,
        startPosition: i * 32000,
        startedAt: new Date(Date.UTC(2030, 0, 1, 0, i)),
        endedAt: i < 2 ? new Date(Date.UTC(2030, 0, 1, 0, i, 30)) : null,
      });
    }
    const chunks = chunkMessages(stream(threeSessions), threeSessionsAudio, sessionOf);
    // Session 2 re-sends chunk 1 after reconnecting; chunks arrive out of order.
    const chunk1Again = chunkMessages(
      stream(threeSessions),
      threeSessionsAudio,
      () => "session-2",
    )[1] as OutgoingMessage;
    await sendChunks([
      chunks[4],
      chunks[0],
      chunks[2],
      chunks[1],
      chunk1Again,
      chunks[3],
      chunks[0],
    ] as OutgoingMessage[]);
    await sendEvent(threeSessions, "session-1", {
      type: "segments",
      segments: [
        { id: "s2", start: 1.0, end: 1.5, text: "second", speaker: "SPEAKER_01", is_user: false, person_id: null },
        { id: "s1", start: 0.0, end: 1.0, text: "first", speaker: "SPEAKER_00", is_user: true, person_id: null },
      ],
    });
    await sendEvent(threeSessions, "session-2", {
      type: "segments",
      segments: [
        { id: "s3", start: 1.0, end: 1.2, text: "overlap", speaker: "SPEAKER_00", is_user: true, person_id: null },
      ],
    });
    await sendEvent(threeSessions, "session-3", { type: "speaker_assigned", person_id: "p-anna", segment_ids: ["s2"] });
    await beginFinalizeAsIngress(worker.runtime, threeSessions, {
      finalPosition: threeSessionsAudio.length,
      reason: "client",
      sessionId: "session-3",
      eventsConfirmed: 0,
    });
    await sendEvent(threeSessions, "session-3", {
      type: "finalize",
      final_position: threeSessionsAudio.length,
      reason: "client",
    });
    const response = await get(`/v1/conversations/${threeSessions}/audio.wav`);
    expect(response.status).toBe(200);
    threeSessionsWav = await bytes(response);
  });
  afterAll(async () => {
    await api?.close();
    await Promise.all([worker?.close(), otherWorker?.close()]);
    await Promise.all([env?.close(), otherEnv?.close()]);
  });

  describe("audio.wav", () => {
    it("plays a conversation streamed over three sessions back as one WAV whose samples equal the sent samples", async () => {
      const response = await get(`/v1/conversations/${threeSessions}/audio.wav`);
      expect(response.headers.get("content-type")).toBe("audio/wav");
      expect(response.headers.get("accept-ranges")).toBe("bytes");
      expect(response.headers.get("content-length")).toBe(String(44 + threeSessionsAudio.length));
      await response.arrayBuffer();
      const header = parseWavHeader(threeSessionsWav);
      expect(header).toEqual({
        sampleRate: 16000,
        channels: 1,
        bitsPerSample: 16,
        dataOffset: 44,
        dataBytes: threeSessionsAudio.length,
      });
      expect(decodePcm16MonoWav(threeSessionsWav).pcm.equals(threeSessionsAudio)).toBe(true);
    });

    it.each([
      ["bytes=0-43", 0, 43],
      ["bytes=0-0", 0, 0],
      ["bytes=40-60", 40, 60],
      ["bytes=15990-32100", 15990, 32100],
      ["bytes=60000-", 60000, 66511],
      ["bytes=-100", 66412, 66511],
      ["bytes=66511-99999999", 66511, 66511],
    ])("answers Range %s with 206 and exactly those bytes", async (range, start, end) => {
      const response = await get(`/v1/conversations/${threeSessions}/audio.wav`, { headers: { range } });
      expect(response.status).toBe(206);
      expect(response.headers.get("content-range")).toBe(`bytes ${start}-${end}/${44 + threeSessionsAudio.length}`);
      expect(response.headers.get("content-length")).toBe(String(end - start + 1));
      expect((await bytes(response)).equals(threeSessionsWav.subarray(start, end + 1))).toBe(true);
    });

    it("answers an unsatisfiable range with 416 and the size", async () => {
      const size = 44 + threeSessionsAudio.length;
      for (const range of [`bytes=${size}-`, "bytes=-0"]) {
        const response = await get(`/v1/conversations/${threeSessions}/audio.wav`, { headers: { range } });
        expect(response.status).toBe(416);
        expect(response.headers.get("content-range")).toBe(`bytes */${size}`);
        expect(await response.json()).toEqual({
          error: { code: "range_not_satisfiable", message: expect.any(String) },
        });
      }
    });

    it("names its snapshot with an ETag and ignores a Range whose If-Range names an older one", async () => {
      const etag = (await get(`/v1/conversations/${threeSessions}/audio.wav`, { method: "HEAD" })).headers.get("etag");
      expect(etag).toMatch(/^"wav-5-66468"$/);
      const current = await get(`/v1/conversations/${threeSessions}/audio.wav`, {
        headers: { range: "bytes=0-9", "if-range": etag ?? "" },
      });
      expect(current.status).toBe(206);
      await current.arrayBuffer();
      const stale = await get(`/v1/conversations/${threeSessions}/audio.wav`, {
        headers: { range: "bytes=0-9", "if-range": '"wav-4-64000"' },
      });
      expect(stale.status).toBe(200);
      expect((await bytes(stale)).equals(threeSessionsWav)).toBe(true);
    });

    it("logs a client that hangs up mid-file as such, not as a failure", async () => {
      // 3.2 MB: far more than socket buffers hold, so the server is still writing when the client leaves.
      const id = uniqueConversationId("hangup");
      await seedConversation(worker.runtime, {
        id,
        userId: "user-a",
        codec: "pcm16",
        sampleRate: 16000,
        chunkSize: 320000,
      });
      await sendChunks(chunkMessages(stream(id, { chunkSize: 320000 }), pcm16Noise(1_600_000, 8)));
      const response = await get(`/v1/conversations/${id}/audio.wav`);
      expect(response.headers.get("content-length")).toBe(String(44 + 3_200_000));
      await response.body?.cancel();
      await eventually(
        async () =>
          worker.logs.find("INFO", { conversation_id: id, message: "client closed the audio stream early" }).length > 0,
        "the hang-up to be logged",
      );
      expect(worker.logs.find("ERROR", { conversation_id: id })).toEqual([]);
    });

    it("answers HEAD with the headers of GET and no body", async () => {
      const response = await get(`/v1/conversations/${threeSessions}/audio.wav`, {
        method: "HEAD",
        headers: { range: "bytes=10-19" },
      });
      expect(response.status).toBe(206);
      expect(response.headers.get("content-length")).toBe("10");
      expect((await bytes(response)).length).toBe(0);
    });

    it("is playable while in progress, up to the first missing chunk, with an exact header", async () => {
      const id = uniqueConversationId("gap");
      await seedConversation(worker.runtime, {
        id,
        userId: "user-a",
        codec: "pcm16",
        sampleRate: 16000,
        chunkSize: 16000,
      });
      const audio = pcm16Noise(40000, 3);
      const chunks = chunkMessages(stream(id), audio);
      await sendChunks([chunks[0], chunks[1], chunks[3]] as OutgoingMessage[]);

      const wav = await bytes(await get(`/v1/conversations/${id}/audio.wav`));
      expect(parseWavHeader(wav).dataBytes).toBe(32000);
      expect(decodePcm16MonoWav(wav).pcm.equals(audio.subarray(0, 32000))).toBe(true);
      const status = await (await get(`/v1/conversations/${id}`)).json();
      expect(status).toMatchObject({ status: "in_progress", position: 32000, duration_ms: 1000 });

      await sendChunks([chunks[2], chunks[4]] as OutgoingMessage[]);
      const complete = await bytes(await get(`/v1/conversations/${id}/audio.wav`));
      expect(decodePcm16MonoWav(complete).pcm.equals(audio)).toBe(true);
    });

    it("reads only the chunks a range needs", async () => {
      const id = uniqueConversationId("ranged");
      await seedConversation(worker.runtime, {
        id,
        userId: "user-a",
        codec: "pcm16",
        sampleRate: 16000,
        chunkSize: 16000,
      });
      const audio = pcm16Noise(32000, 4);
      await sendChunks(chunkMessages(stream(id), audio));
      // Without chunk 0's object, a range inside chunk 3 still works: it never reads chunk 0.
      await env.clients.bucket.file(chunkObjectName(id, 0, "pcm16")).delete();
      const inside = await get(`/v1/conversations/${id}/audio.wav`, {
        headers: { range: `bytes=${44 + 48000 + 10}-${44 + 48000 + 1009}` },
      });
      expect(inside.status).toBe(206);
      expect((await bytes(inside)).equals(audio.subarray(48010, 49010))).toBe(true);
      // A range that needs chunk 0 is cut short rather than padded, and the failure is logged.
      await expect(get(`/v1/conversations/${id}/audio.wav`).then(bytes)).rejects.toThrow();
      expect(
        worker.logs.find("ERROR", { conversation_id: id, message: "audio.wav stream failed; response cut short" }),
      ).toHaveLength(1);
    });

    it("decodes an Opus conversation to PCM16 at its sample rate, with ranges matching the whole file", async () => {
      const id = uniqueConversationId("opus");
      const rate = 48000;
      await seedConversation(worker.runtime, { id, userId: "user-a", codec: "opus", sampleRate: rate, chunkSize: 25 });
      const encoder = new OpusScript(rate, 1, OpusScript.Application.AUDIO);
      const pcm = pcm16Noise(60 * 960, 9);
      const packets = Array.from({ length: 60 }, (_, i) => encoder.encode(pcm.subarray(i * 1920, (i + 1) * 1920), 960));
      encoder.delete();
      await sendChunks(chunkMessages(stream(id, { codec: "opus", sampleRate: rate, chunkSize: 25 }), packets));

      const wav = await bytes(await get(`/v1/conversations/${id}/audio.wav`));
      const header = parseWavHeader(wav);
      expect(header).toMatchObject({ sampleRate: 48000, channels: 1, bitsPerSample: 16, dataBytes: 60 * 960 * 2 });
      const expected = Buffer.concat([
        decodeOpusChunk(frameOpusPackets(packets.slice(0, 25)), rate).pcm,
        decodeOpusChunk(frameOpusPackets(packets.slice(25, 50)), rate, frameOpusPackets(packets.slice(0, 25))).pcm,
        decodeOpusChunk(frameOpusPackets(packets.slice(50)), rate, frameOpusPackets(packets.slice(25, 50))).pcm,
      ]);
      expect(wav.subarray(44).equals(expected)).toBe(true);
      const range = await get(`/v1/conversations/${id}/audio.wav`, { headers: { range: "bytes=47000-50999" } });
      expect((await bytes(range)).equals(wav.subarray(47000, 51000))).toBe(true);
      expect(await (await get(`/v1/conversations/${id}`)).json()).toMatchObject({
        codec: "opus",
        position: 60,
        duration_ms: 1200,
      });
    });
  });

  describe("conversations", () => {
    it("returns the documented status object", async () => {
      const response = await get(`/v1/conversations/${threeSessions}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await response.json()).toEqual({
        id: threeSessions,
        environment: env.resources.environment,
        status: "finalized",
        codec: "pcm16",
        sample_rate: 16000,
        position: threeSessionsAudio.length,
        duration_ms: (threeSessionsAudio.length / 2 / 16000) * 1000,
        sessions: [
          { session_id: "session-1", started_at: "2030-01-01T00:00:00.000Z", ended_at: "2030-01-01T00:00:30.000Z" },
          { session_id: "session-2", started_at: "2030-01-01T00:01:00.000Z", ended_at: "2030-01-01T00:01:30.000Z" },
          { session_id: "session-3", started_at: "2030-01-01T00:02:00.000Z", ended_at: null },
        ],
        segments: 3,
        extraction: { status: "pending", people: [] },
      });
    });

    it("returns the segments of every session in time order, with the assignment from session 3 applied", async () => {
      const body = (await (await get(`/v1/conversations/${threeSessions}/segments`)).json()) as {
        conversation_id: string;
        segments: Array<{ id: string; person_id: string | null; session_id: string }>;
      };
      expect(body.conversation_id).toBe(threeSessions);
      expect(body.segments.map((s) => [s.id, s.person_id, s.session_id])).toEqual([
        ["s1", null, "session-1"],
        // Equal starts: by segment id (the order the page cursor follows).
        ["s2", "p-anna", "session-1"],
        ["s3", null, "session-2"],
      ]);
      expect(body.segments[0]).toEqual({
        id: "s1",
        start: 0,
        end: 1,
        text: "first",
        speaker: "SPEAKER_00",
        is_user: true,
        person_id: null,
        session_id: "session-1",
      });
    });
  });

  describe("segments, a page at a time", () => {
    type Page = { segments: Array<{ id: string; person_id: string | null }>; next_cursor: string | null };
    const page = async (query: string) =>
      (await (await get(`/v1/conversations/${threeSessions}/segments${query}`)).json()) as Page;

    it("pages with limit and cursor: every segment once, in time order, assignments applied", async () => {
      const first = await page("?limit=2");
      expect(first.segments.map((s) => s.id)).toEqual(["s1", "s2"]);
      expect(first.next_cursor).toEqual(expect.any(String));
      const second = await page(`?limit=2&cursor=${encodeURIComponent(first.next_cursor ?? "")}`);
      expect(second.segments.map((s) => [s.id, s.person_id])).toEqual([["s3", null]]);
      expect(first.segments[1]?.person_id).toBe("p-anna");
      expect(second.next_cursor).toBeNull();
      expect((await page("")).next_cursor).toBeNull(); // default limit 1000
    });

    it("answers 400 for a limit outside 1..1000 or a cursor it did not return", async () => {
      for (const query of ["?limit=0", "?limit=1001", "?limit=abc", "?cursor=bm90LWEtY3Vyc29y"]) {
        const response = await get(`/v1/conversations/${threeSessions}/segments${query}`);
        expect(response.status).toBe(400);
      }
    });
  });

  describe("auth and errors", () => {
    const paths = (id: string) => [
      `/v1/conversations/${id}`,
      `/v1/conversations/${id}/audio.wav`,
      `/v1/conversations/${id}/segments`,
    ];

    it("answers 401 without a token or with a forged one", async () => {
      const forged = await signAccessToken("another-secret-of-enough-length", "user-a");
      for (const path of paths(threeSessions)) {
        for (const token of [null, forged, "not-a-jwt"]) {
          const response = await get(path, { token });
          expect(response.status).toBe(401);
          expect(await response.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
        }
      }
    });

    it("accepts the token as an access_token query parameter", async () => {
      const response = await get(`/v1/conversations/${threeSessions}?access_token=${tokenA}`, { token: null });
      expect(response.status).toBe(200);
    });

    it("answers 403 for another user's conversation on every route, and logs it", async () => {
      for (const path of paths(threeSessions)) {
        const response = await get(path, { token: tokenB });
        expect(response.status).toBe(403);
        expect(await response.json()).toEqual({ error: { code: "forbidden", message: expect.any(String) } });
      }
      expect(worker.logs.find("WARNING", { conversation_id: threeSessions, status: 403 }).length).toBe(3);
    });

    it("answers 404 for an unknown conversation and for one that lives in another environment", async () => {
      const elsewhere = uniqueConversationId("elsewhere");
      await seedConversation(otherWorker.runtime, {
        id: elsewhere,
        userId: "user-a",
        codec: "pcm16",
        sampleRate: 16000,
        chunkSize: 16000,
      });
      for (const id of [uniqueConversationId("nobody"), elsewhere]) {
        for (const path of paths(id)) {
          const response = await get(path);
          expect(response.status).toBe(404);
          expect((await errorOf(response)).code).toBe("not_found");
        }
      }
    });

    it("answers 400 for a malformed id, 404 for an unknown route and 405 for another method", async () => {
      for (const path of [
        "/v1/conversations/short",
        "/v1/conversations/has%2Fslash-1234",
        "/v1/conversations/bad%ZZencoding",
        "/v1/people/has.dot",
      ]) {
        const response = await get(path);
        expect(response.status).toBe(400);
        expect((await errorOf(response)).code).toBe("bad_request");
      }
      expect((await get("/v1/nothing-here")).status).toBe(404);
      const post = await get(`/v1/conversations/${threeSessions}`, { method: "POST" });
      expect(post.status).toBe(405);
      expect(post.headers.get("allow")).toBe("GET, HEAD, DELETE");
    });
  });

  describe("people", () => {
    beforeAll(async () => {
      const person: PersonDoc = {
        id: "p-anna",
        user_id: "user-a",
        samples: [
          {
            uri: `gs://${env.resources.bucket}/people/p-anna/samples/x1.wav`,
            sample_id: "x1",
            conversation_id: threeSessions,
            segment_ids: ["s2"],
            duration_ms: 9000,
          },
        ],
        embedding: { model: "wespeaker-resnet34", dim: 2, vector: [0.5, 0.5] },
        updated_at: Timestamp.now(),
      };
      await personRef(env.clients.firestore, "user-a", "p-anna").set(person);
    });

    it("returns the owner's person with samples and the embedding summary", async () => {
      const response = await get("/v1/people/p-anna");
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        id: "p-anna",
        samples: [
          {
            uri: `gs://${env.resources.bucket}/people/p-anna/samples/x1.wav`,
            conversation_id: threeSessions,
            segment_ids: ["s2"],
            duration_ms: 9000,
          },
        ],
        embedding: { model: "wespeaker-resnet34", dim: 2 },
      });
    });

    it("answers 404 to another user (their p-anna is their own), to an unknown person, and 401 without a token", async () => {
      expect((await get("/v1/people/p-anna", { token: tokenB })).status).toBe(404);
      expect((await get("/v1/people/p-nobody")).status).toBe(404);
      expect((await get("/v1/people/p-anna", { token: null })).status).toBe(401);
    });
  });
});
