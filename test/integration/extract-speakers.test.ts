/**
 * Speaker extraction against the emulators, over conversations laid out exactly as the
 * ingress, persist-audio and events workers leave them.
 *
 * The main conversation (pcm16, 16 kHz, 5 s chunks, 38 s) has three socket sessions
 * (chunks 0-2, 3-4, 5-7) and two people:
 *
 *    0.2- 3.2  a1   kal    s1 SPEAKER_00  assigned to person A (assignment sent in s3)
 *    3.5- 6.5  b1   slt    s1 SPEAKER_01  person_id B
 *    6.5- 9.5  b2   slt    s1 SPEAKER_01  unnamed (same session label as b1)
 *    9.7-12.7  b3   slt    s1 SPEAKER_01  unnamed
 *   13.5-25.5  a2   kal x4 s2 SPEAKER_00  assigned to A in s3; A's longest segment,
 *                                         straddling the s1/s2 boundary at 15 s
 *   26.0-29.0  c1   esp    s3 SPEAKER_02  nobody (an unidentified speaker)
 *   29.5-32.5  b4   slt    s3 SPEAKER_00  person_id B (labels restart per session)
 *   33.0-36.0  a3   kal    s3 SPEAKER_01  person_id A, but c2 talks over it
 *   35.0-38.0  c2   esp    s3 SPEAKER_02  nobody
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import OpusScript from "opusscript";
import { conversationAudio, readPcm } from "../../functions/api/served-audio";
import { DSP_EMBEDDING_MODEL } from "../../functions/extract-speakers/dsp-embedding";
import { createExtractSpeakersHandler } from "../../functions/extract-speakers/index";
import { createRuntime, type EnvironmentRuntime } from "../../functions/runtime";
import { loadSettings } from "../../shared/config";
import { DEFAULT_EXTRACTION_SETTINGS } from "../../shared/extraction-settings";
import {
  assignmentRef,
  type ConversationDoc,
  conversationRef,
  type PersonDoc,
  personRef,
  userKey,
} from "../../shared/firestore-schema";
import { createLogger } from "../../shared/logger";
import { personPrefix, personSampleObjectName } from "../../shared/storage-paths";
import { decodePcm16MonoWav } from "../../shared/wav";
import { composePcm16, extractionEvent, type SeedSegment, seedConversation } from "../support/extract-conversation";
import { loadVoiceFixtures } from "../support/extract-voices";
import { pullMessages } from "../support/pull";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";

const RATE = 16000;
const BYTES_PER_MS = (RATE * 2) / 1000;
const CHUNK_BYTES = 5 * RATE * 2;

const voices = loadVoiceFixtures();
const clip = (name: string): Buffer => {
  const found = voices.find((v) => v.name === name);
  if (!found) throw new Error(`no fixture ${name}`);
  return found.pcm;
};
const kal4 = Buffer.concat(["kal_1", "kal_2", "kal_3", "kal_4"].map(clip));

const AUDIO = composePcm16(RATE, 38_000, [
  { atMs: 200, pcm: clip("kal_1") },
  { atMs: 3500, pcm: clip("slt_1") },
  { atMs: 6500, pcm: clip("slt_2") },
  { atMs: 9700, pcm: clip("slt_3") },
  { atMs: 13_500, pcm: kal4 },
  { atMs: 26_000, pcm: clip("esp-us-m3_1") },
  { atMs: 29_500, pcm: clip("slt_4") },
  { atMs: 33_000, pcm: clip("kal_2") },
  { atMs: 35_000, pcm: clip("esp-sc-m7_2") },
]);

const seg = (
  id: string,
  start: number,
  end: number,
  session_id: string,
  speaker: string,
  person_id: string | null = null,
): SeedSegment => ({ id, start, end, session_id, speaker, person_id, is_user: false });

/** Segments of the main conversation, with persons A and B named `a` and `b`. */
const segmentsFor = (a: string, b: string): SeedSegment[] => [
  seg("a1", 0.2, 3.2, "s1", "SPEAKER_00"),
  seg("b1", 3.5, 6.5, "s1", "SPEAKER_01", b),
  seg("b2", 6.5, 9.5, "s1", "SPEAKER_01"),
  seg("b3", 9.7, 12.7, "s1", "SPEAKER_01"),
  seg("a2", 13.5, 25.5, "s2", "SPEAKER_00"),
  seg("c1", 26.0, 29.0, "s3", "SPEAKER_02"),
  seg("b4", 29.5, 32.5, "s3", "SPEAKER_00", b),
  seg("a3", 33.0, 36.0, "s3", "SPEAKER_01", a),
  seg("c2", 35.0, 38.0, "s3", "SPEAKER_02"),
];

const SESSIONS = [
  { id: "s1", firstChunk: 0 },
  { id: "s2", firstChunk: 3 },
  { id: "s3", firstChunk: 5 },
];

/** Person A is named only by assignments, sent in the last session. */
const assignmentsFor = (a: string) => [
  { segment_id: "a1", person_id: a, session_id: "s3" },
  { segment_id: "a2", person_id: a, session_id: "s3" },
];

class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString().split("\n")) if (line.trim()) this.lines.push(JSON.parse(line));
    done();
  }
}

describe("speaker extraction over every segment of a conversation", () => {
  let env: TestEnvironment;
  let runtime: EnvironmentRuntime;
  let logs: LogCapture;
  let counter = 0;
  const newId = (label: string) => {
    counter += 1;
    return `${label}-${Date.now().toString(36)}-${counter}`;
  };

  beforeAll(async () => {
    env = await createTestEnvironment("ext");
    logs = new LogCapture();
    runtime = createRuntime(
      loadSettings({ TETHER_ENVIRONMENT: env.resources.environment, TETHER_PROJECT_ID: env.resources.projectId }),
      createLogger({ level: "info", destination: logs }),
    );
  });
  afterAll(async () => {
    await runtime?.clients.close();
    await env?.close();
  });

  const handler = () => createExtractSpeakersHandler(runtime, { settings: DEFAULT_EXTRACTION_SETTINGS });
  const db = () => env.clients.firestore;
  const person = async (id: string, userId = "user-1") =>
    (await personRef(db(), userId, id).get()).data() as PersonDoc | undefined;
  const sampleObject = (personId: string, sampleId: string, userId = "user-1") =>
    personSampleObjectName(personId, userKey(userId), sampleId);
  const extraction = async (conversationId: string) =>
    ((await conversationRef(db(), conversationId).get()).data() as ConversationDoc).extraction;
  const sampleObjects = async (personId: string) =>
    (await env.clients.bucket.getFiles({ prefix: personPrefix(personId, userKey("user-1")) }))[0]
      .map((f) => f.name)
      .sort();
  const wavPcm = async (objectName: string) => {
    const [file] = await env.clients.bucket.file(objectName).download();
    return decodePcm16MonoWav(file);
  };

  /** Seeds the main conversation; each test names its own people so profiles never mix. */
  async function seedMain(conversationId: string, a: string, b: string, extra: { omitChunks?: number[] } = {}) {
    await seedConversation(env, {
      conversationId,
      userId: "user-1",
      codec: "pcm16",
      sampleRate: RATE,
      chunkSize: CHUNK_BYTES,
      audio: AUDIO,
      sessions: SESSIONS,
      segments: segmentsFor(a, b),
      assignments: assignmentsFor(a),
      ...(extra.omitChunks ? { omitChunks: extra.omitChunks } : {}),
    });
  }

  describe("a conversation of three socket sessions with two people", () => {
    const conversationId = `conv-main-${Date.now().toString(36)}`;
    const windowA = { start: 14_500, end: 24_500 };
    const windowB = { start: 3_500, end: 12_700 };

    beforeAll(async () => {
      await seedMain(conversationId, "person-a", "person-b");
      await handler()(extractionEvent(env.resources, conversationId, { deliveryAttempt: 1 }));
    });

    it("reports one extracted sample for each person on the conversation", async () => {
      const summary = await extraction(conversationId);
      expect(summary?.status).toBe("done");
      expect(summary?.people.map((p) => [p.person_id, p.status, p.samples])).toEqual([
        ["person-a", "extracted", 1],
        ["person-b", "extracted", 1],
      ]);
    });

    it("cuts person A's sample from the segment that straddles the session boundary, centre +/- 5 s", async () => {
      const profile = await person("person-a");
      expect(profile?.user_id).toBe("user-1");
      expect(profile?.samples.map((s) => [s.sample_id, s.segment_ids, s.duration_ms])).toEqual([
        [`${conversationId}_${windowA.start}_${windowA.end}`, ["a2"], 10_000],
      ]);
      const objectName = sampleObject("person-a", `${conversationId}_${windowA.start}_${windowA.end}`);
      expect(objectName.startsWith("people/person-a/")).toBe(true);
      expect(profile?.samples[0]?.uri).toBe(`gs://${env.resources.bucket}/${objectName}`);
      const wav = await wavPcm(objectName);
      expect(wav.sampleRate).toBe(RATE);
      // Chunk 2 came from session s1 and chunk 3 from s2: the sample is the sent audio, byte for byte.
      expect(wav.pcm.equals(AUDIO.subarray(windowA.start * BYTES_PER_MS, windowA.end * BYTES_PER_MS))).toBe(true);
    });

    it("extends person B's short named segment over the same speaker's unnamed neighbours", async () => {
      const profile = await person("person-b");
      expect(profile?.samples.map((s) => [s.sample_id, s.segment_ids, s.duration_ms])).toEqual([
        [`${conversationId}_${windowB.start}_${windowB.end}`, ["b1", "b2", "b3"], 9_200],
      ]);
      const wav = await wavPcm(sampleObject("person-b", `${conversationId}_${windowB.start}_${windowB.end}`));
      expect(wav.pcm.equals(AUDIO.subarray(windowB.start * BYTES_PER_MS, windowB.end * BYTES_PER_MS))).toBe(true);
    });

    it("keeps a per-person profile with the built-in embedding, its model and dimension", async () => {
      for (const id of ["person-a", "person-b"]) {
        const profile = await person(id);
        expect(profile?.embedding?.model).toBe(DSP_EMBEDDING_MODEL);
        expect(profile?.embedding?.dim).toBe(59);
        expect(profile?.embedding?.vector).toHaveLength(59);
        expect(profile?.samples[0]?.embedding?.model).toBe(DSP_EMBEDDING_MODEL);
        expect(profile?.samples[0]?.quality?.score).toBeGreaterThan(0.5);
      }
    });

    it("reads only the bytes of the windows it cuts, with ranged reads", () => {
      const done = logs.lines.find(
        (l) => l.conversation_id === conversationId && l.message === "speaker extraction done",
      );
      expect(done?.severity).toBe("INFO");
      expect(done?.environment).toBe(env.resources.environment);
      const windowBytes = (windowA.end - windowA.start + windowB.end - windowB.start) * BYTES_PER_MS;
      expect(done?.bytesRead).toBe(windowBytes);
      expect(done?.bytesWritten).toBe(windowBytes + 2 * 44);
    });

    it("adds no duplicate sample when the same request runs again", async () => {
      const before = [await person("person-a"), await person("person-b")].map((p) => p?.samples);
      const objectsBefore = [await sampleObjects("person-a"), await sampleObjects("person-b")];
      await handler()(extractionEvent(env.resources, conversationId, { reason: "speaker_assigned" }));
      await handler()(extractionEvent(env.resources, conversationId));
      expect([await person("person-a"), await person("person-b")].map((p) => p?.samples)).toEqual(before);
      expect([await sampleObjects("person-a"), await sampleObjects("person-b")]).toEqual(objectsBefore);
      const summary = await extraction(conversationId);
      expect(summary?.people.map((p) => p.samples)).toEqual([1, 1]);
    });
  });

  it("follows a later speaker assignment: the re-assigned segment's sample moves to its new person", async () => {
    const conversationId = newId("conv-reassign");
    const [a, b] = ["person-a-re", "person-b-re"];
    await seedMain(conversationId, a, b);
    const run = handler();
    await run(extractionEvent(env.resources, conversationId));
    const aSample = sampleObject(a, `${conversationId}_14500_24500`);
    expect((await env.clients.bucket.file(aSample).exists())[0]).toBe(true);

    // The user says a2 was person B after all (sent from yet another session).
    await assignmentRef(db(), conversationId, "a2").set({
      segment_id: "a2",
      person_id: b,
      session_id: "s4",
      assigned_at: new Date(),
    });
    // As the events worker does for a change after finalization: a newer extraction generation.
    await conversationRef(db(), conversationId).update({ extraction_generation: 1 });
    await run(extractionEvent(env.resources, conversationId, { reason: "speaker_assigned" }));

    const summary = await extraction(conversationId);
    const outcomeA = summary?.people.find((p) => p.person_id === a);
    expect(outcomeA).toMatchObject({ status: "skipped", reason: "too_short", samples: 0 });
    expect(outcomeA?.detail).toMatchObject({ required_ms: 8000 });
    expect(summary?.people.find((p) => p.person_id === b)).toMatchObject({ status: "extracted", samples: 2 });
    expect((await person(a))?.samples).toEqual([]);
    expect((await env.clients.bucket.file(aSample).exists())[0]).toBe(false);
    expect((await person(b))?.samples.map((s) => s.segment_ids).sort()).toEqual([["a2"], ["b1", "b2", "b3"]]);
    const skipLine = logs.lines.find(
      (l) => l.conversation_id === conversationId && l.person_id === a && l.reason === "too_short",
    );
    expect(skipLine).toMatchObject({ severity: "WARNING", environment: env.resources.environment });

    // A duplicate request for the generation already answered runs nothing and changes nothing.
    const before = await extraction(conversationId);
    await run(extractionEvent(env.resources, conversationId, { reason: "speaker_assigned" }));
    expect(await extraction(conversationId)).toEqual(before);
    expect(
      logs.lines.filter(
        (l) =>
          l.conversation_id === conversationId &&
          l.message === "speaker extraction already answered for the newest generation; duplicate request acknowledged",
      ),
    ).toHaveLength(1);
  });

  describe("a conversation whose audio chunks are missing", () => {
    const conversationId = `conv-missing-${Date.now().toString(36)}`;

    beforeAll(async () => {
      // Chunks 3 and 4 (15-25 s, session s2) never arrived.
      await seedMain(conversationId, "person-a-mis", "person-b-mis", { omitChunks: [3, 4] });
    });

    it("waits while the audio may still be in flight: the delivery fails so Pub/Sub redelivers", async () => {
      await expect(handler()(extractionEvent(env.resources, conversationId, { deliveryAttempt: 1 }))).rejects.toThrow(
        /audio missing/,
      );
      const summary = await extraction(conversationId);
      expect(summary?.status).toBe("pending");
      expect(summary?.people.find((p) => p.person_id === "person-a-mis")).toMatchObject({
        status: "pending",
        reason: "audio_missing",
      });
      expect(await sampleObjects("person-a-mis")).toEqual([]);
      expect(await sampleObjects("person-b-mis")).toEqual([]);
    });

    it("reports audio_missing with the missing range once retries are exhausted", async () => {
      await handler()(
        extractionEvent(env.resources, conversationId, {
          deliveryAttempt: DEFAULT_EXTRACTION_SETTINGS.missingAudioAttempts,
        }),
      );
      const summary = await extraction(conversationId);
      expect(summary?.status).toBe("failed");
      const a = summary?.people.find((p) => p.person_id === "person-a-mis");
      expect(a).toMatchObject({ status: "failed", reason: "audio_missing", samples: 0 });
      expect(a?.detail).toEqual({ missing_ranges: [{ start_ms: 15_000, end_ms: 25_000, chunks: [3, 4] }] });
      // Person B's audio is all there: extraction still gives them their sample.
      expect(summary?.people.find((p) => p.person_id === "person-b-mis")).toMatchObject({
        status: "extracted",
        samples: 1,
      });
      const line = logs.lines.find(
        (l) => l.conversation_id === conversationId && l.reason === "audio_missing" && l.extraction_status === "failed",
      );
      expect(line).toMatchObject({
        severity: "ERROR",
        environment: env.resources.environment,
        person_id: "person-a-mis",
      });
    });
  });

  it("without a delivery count (push deliveries), counts its waits and reports on the last delivery", async () => {
    const conversationId = newId("conv-push");
    await seedMain(conversationId, "person-a-push", "person-b-push", { omitChunks: [3] });
    const run = handler();
    for (let wait = 1; wait < DEFAULT_EXTRACTION_SETTINGS.missingAudioAttempts; wait += 1) {
      await expect(run(extractionEvent(env.resources, conversationId))).rejects.toThrow(/audio missing/);
      expect((await extraction(conversationId))?.missing_audio_waits).toBe(wait);
    }
    await run(extractionEvent(env.resources, conversationId));
    const summary = await extraction(conversationId);
    expect(summary?.missing_audio_waits).toBeUndefined();
    expect(summary?.people.find((p) => p.person_id === "person-a-push")).toMatchObject({
      status: "failed",
      reason: "audio_missing",
      detail: { missing_ranges: [{ start_ms: 15_000, end_ms: 20_000, chunks: [3] }] },
    });
  });

  it("skips with sample_limit_reached when the person already has 5 better samples", async () => {
    const conversationId = newId("conv-full");
    const personId = "person-full";
    const stored = Array.from({ length: 5 }, (_, i) => ({
      uri: `gs://${env.resources.bucket}/${sampleObject(personId, `old-${i}`)}`,
      sample_id: `old-${i}`,
      conversation_id: `older-conversation-${i}`,
      segment_ids: ["x"],
      duration_ms: 10_000,
      quality: { score: 1, duration_ms: 10_000, speech_coverage: 1, assigned_coverage: 1, margin_ms: 2000 },
    }));
    await personRef(db(), "user-1", personId).set({
      id: personId,
      user_id: "user-1",
      samples: stored,
      embedding: null,
      updated_at: new Date(),
    });
    await seedConversation(env, {
      conversationId,
      userId: "user-1",
      codec: "pcm16",
      sampleRate: RATE,
      chunkSize: CHUNK_BYTES,
      audio: AUDIO,
      sessions: SESSIONS,
      segments: segmentsFor("person-a-full", personId),
      assignments: [],
    });
    await handler()(extractionEvent(env.resources, conversationId));
    const outcome = (await extraction(conversationId))?.people.find((p) => p.person_id === personId);
    expect(outcome).toMatchObject({ status: "skipped", reason: "sample_limit_reached", samples: 0 });
    expect((await person(personId))?.samples.map((s) => s.sample_id)).toEqual(stored.map((s) => s.sample_id));
    expect(await sampleObjects(personId)).toEqual([]);
  });

  it("keeps another user's profile of the same person id apart: each user's `p` is their own", async () => {
    const conversationId = newId("conv-owner");
    const theirs = {
      id: "person-shared",
      user_id: "user-2",
      samples: [
        {
          uri: `gs://${env.resources.bucket}/${sampleObject("person-shared", "theirs", "user-2")}`,
          sample_id: "theirs",
          conversation_id: "their-conversation",
          segment_ids: ["x"],
          duration_ms: 10_000,
        },
      ],
      embedding: null,
      updated_at: new Date(),
    };
    await personRef(db(), "user-2", "person-shared").set(theirs);
    await seedConversation(env, {
      conversationId,
      userId: "user-1",
      codec: "pcm16",
      sampleRate: RATE,
      chunkSize: CHUNK_BYTES,
      audio: AUDIO,
      sessions: SESSIONS,
      segments: segmentsFor("person-a-own", "person-b-own"),
      assignments: [{ segment_id: "a2", person_id: "person-shared", session_id: "s3" }],
    });
    await handler()(extractionEvent(env.resources, conversationId));
    const outcome = (await extraction(conversationId))?.people.find((p) => p.person_id === "person-shared");
    expect(outcome).toMatchObject({ status: "extracted", samples: 1 });
    expect((await person("person-shared"))?.samples.map((s) => s.conversation_id)).toEqual([conversationId]);
    expect((await person("person-shared", "user-2"))?.samples).toEqual(theirs.samples);
  });

  it("never processes another environment's request: it goes to the dead-letter topic", async () => {
    const conversationId = newId("conv-foreign");
    await seedMain(conversationId, "person-a-foreign", "person-b-foreign");
    await handler()(extractionEvent(env.resources, conversationId, { environment: "prod" }));
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 1 });
    expect(dead.map((m) => [m.attributes.conversation_id, m.attributes.rejection_reason])).toEqual([
      [conversationId, "wrong_environment"],
    ]);
    expect(await extraction(conversationId)).toBeUndefined();
  });

  it("acks a request for a conversation that is not finalized yet, and writes nothing", async () => {
    const conversationId = newId("conv-open");
    await seedConversation(env, {
      conversationId,
      userId: "user-1",
      codec: "pcm16",
      sampleRate: RATE,
      chunkSize: CHUNK_BYTES,
      audio: AUDIO,
      sessions: SESSIONS,
      segments: segmentsFor("person-a-open", "person-b-open"),
      assignments: assignmentsFor("person-a-open"),
      status: "in_progress",
    });
    await handler()(extractionEvent(env.resources, conversationId, { reason: "speaker_assigned" }));
    expect(await extraction(conversationId)).toBeUndefined();
    const line = logs.lines.find((l) => l.conversation_id === conversationId);
    expect(line).toMatchObject({ severity: "INFO", conversation_status: "in_progress" });
  });

  describe("with a hosted embedding service (TETHER_EMBEDDING_URL)", () => {
    let service: http.Server;
    let serviceUrl: string;
    let healthy = true;
    const calls: number[] = [];

    beforeAll(async () => {
      // A stand-in for a neural embedding service: a 4-dim vector derived from the audio.
      service = http.createServer((req, res) => {
        const parts: Buffer[] = [];
        req.on("data", (p: Buffer) => parts.push(p));
        req.on("end", () => {
          const body = JSON.parse(Buffer.concat(parts).toString()) as { audio: string; sample_rate: number };
          const pcm = Buffer.from(body.audio, "base64");
          calls.push(pcm.length);
          if (!healthy) {
            res.writeHead(503).end();
            return;
          }
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              model: "test-neural-v1",
              dim: 4,
              embedding: [pcm.length % 7, 1, 2, body.sample_rate / 1000],
            }),
          );
        });
      });
      await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
      serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}/embed`;
    });
    afterAll(async () => {
      service.closeAllConnections();
      await new Promise<void>((resolve) => service.close(() => resolve()));
    });

    const hostedRuntime = (): EnvironmentRuntime =>
      createRuntime(
        loadSettings({
          TETHER_ENVIRONMENT: env.resources.environment,
          TETHER_PROJECT_ID: env.resources.projectId,
          TETHER_EMBEDDING_URL: serviceUrl,
        }),
        createLogger({ level: "info", destination: logs }),
      );

    it("records the service's model and dimension, re-embedding samples stored with another model", async () => {
      const [a, b] = ["person-a-hosted", "person-b-hosted"];
      const first = newId("conv-dsp");
      await seedMain(first, a, b);
      await handler()(extractionEvent(env.resources, first));
      expect((await person(a))?.embedding?.model).toBe(DSP_EMBEDDING_MODEL);

      const second = newId("conv-hosted");
      await seedMain(second, a, b);
      const hosted = hostedRuntime();
      try {
        await createExtractSpeakersHandler(hosted, { settings: DEFAULT_EXTRACTION_SETTINGS })(
          extractionEvent(env.resources, second),
        );
      } finally {
        await hosted.clients.close();
      }
      const profile = await person(a);
      expect(profile?.samples.map((s) => s.conversation_id).sort()).toEqual([first, second].sort());
      expect(profile?.embedding?.model).toBe("test-neural-v1");
      expect(profile?.embedding?.dim).toBe(4);
      // The older sample was read back from its WAV and embedded by the service too.
      expect(profile?.samples.map((s) => [s.embedding?.model, s.embedding?.dim])).toEqual([
        ["test-neural-v1", 4],
        ["test-neural-v1", 4],
      ]);
    });

    it("retries while the service is down, then reports embedding_failed", async () => {
      const conversationId = newId("conv-down");
      await seedMain(conversationId, "person-a-down", "person-b-down");
      healthy = false;
      const hosted = hostedRuntime();
      try {
        const run = createExtractSpeakersHandler(hosted, { settings: DEFAULT_EXTRACTION_SETTINGS });
        await expect(run(extractionEvent(env.resources, conversationId, { deliveryAttempt: 1 }))).rejects.toThrow(
          /embedding_failed/,
        );
        expect(await sampleObjects("person-a-down")).toEqual([]);
        await run(extractionEvent(env.resources, conversationId, { deliveryAttempt: 5 }));
      } finally {
        healthy = true;
        await hosted.clients.close();
      }
      const summary = await extraction(conversationId);
      expect(summary?.status).toBe("failed");
      expect(summary?.people.find((p) => p.person_id === "person-a-down")).toMatchObject({
        status: "failed",
        reason: "embedding_failed",
        detail: { error: expect.stringMatching(/HTTP 503/) },
      });
      expect(await sampleObjects("person-a-down")).toEqual([]);
    });
  });

  it.each([
    ["ChunkDocs with their sample counts, 20 ms packets", false, 20],
    ["ChunkDocs from before sample counts, 10 ms packets", true, 10],
  ])("decodes Opus conversations: the sample equals the WAV's bytes in that window (%s)", async (_, old, ms) => {
    const conversationId = newId("conv-opus");
    const encoder = new OpusScript(RATE, 1, OpusScript.Application.VOIP);
    const frame = (RATE / 1000) * ms * 2; // `ms` of PCM16
    const packets: Buffer[] = [];
    for (let offset = 0; offset + frame <= AUDIO.length; offset += frame) {
      packets.push(Buffer.from(encoder.encode(AUDIO.subarray(offset, offset + frame), frame / 2)));
    }
    encoder.delete();
    await seedConversation(env, {
      conversationId,
      userId: "user-1",
      codec: "opus",
      sampleRate: RATE,
      chunkSize: 250,
      audio: packets,
      withoutSamples: old,
      sessions: SESSIONS,
      segments: segmentsFor("person-a-opus", "person-b-opus"),
      assignments: assignmentsFor("person-a-opus"),
    });
    await handler()(extractionEvent(env.resources, conversationId));
    const summary = await extraction(conversationId);
    expect(summary?.people.map((p) => [p.person_id, p.status, p.samples])).toEqual([
      ["person-a-opus", "extracted", 1],
      ["person-b-opus", "extracted", 1],
    ]);
    // The reference: the conversation's audio as the API's audio.wav decodes it.
    const layout = await conversationAudio(db(), env.clients.bucket, conversationId, {
      codec: "opus",
      sampleRate: RATE,
    });
    const from = 14_500 * BYTES_PER_MS;
    const to = 24_500 * BYTES_PER_MS;
    const parts: Buffer[] = [];
    for await (const part of readPcm(env.clients.bucket, layout, from, to, runtime.logger)) parts.push(part);
    const wav = await wavPcm(sampleObject("person-a-opus", `${conversationId}_14500_24500`));
    expect(wav.pcm.length).toBe(to - from);
    expect(wav.pcm.equals(Buffer.concat(parts))).toBe(true);
  });
});
