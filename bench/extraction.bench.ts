/**
 * Speaker-extraction bench (`npm run bench`; bench/run.ts starts the emulators first).
 *
 * (a) How well the built-in embedding separates voices: the equal error rate of
 *     same-voice vs different-voice pairs over the voice fixtures (test/fixtures/voices).
 * (b) What extraction costs on a long conversation: a synthetic 45-minute pcm16 16 kHz
 *     conversation with 600 segments, 4 people and 4 socket sessions, stored in the Storage
 *     and Firestore emulators as the workers store it; prints the extraction time and the
 *     bytes read from chunk objects against the bytes of the samples written.
 *     Aims: under 3 s, and bytes read under 3x the bytes written.
 */
import crypto from "node:crypto";
import { Timestamp } from "@google-cloud/firestore";
import { createDspEmbedder, DSP_EMBEDDING_MODEL } from "../functions/extract-speakers/dsp-embedding";
import { cosineSimilarity } from "../functions/extract-speakers/embedding";
import { extractConversation } from "../functions/extract-speakers/extract-conversation";
import { chunksUpTo } from "../shared/audio-format";
import { environmentResources, localProjectId, parseEnvironmentName } from "../shared/environment";
import { DEFAULT_EXTRACTION_SETTINGS } from "../shared/extraction-settings";
import {
  assignmentRef,
  type ChunkDoc,
  type ConversationDoc,
  chunkRef,
  conversationRef,
  type SegmentDoc,
  segmentRef,
} from "../shared/firestore-schema";
import { createGcpClients, type GcpClients } from "../shared/gcp-clients";
import { createLogger } from "../shared/logger";
import { chunkObjectName } from "../shared/storage-paths";
import { pcm16Samples } from "../shared/wav";
import { equalErrorRate, loadVoiceFixtures, scorePairs, type VoiceFixture } from "../test/support/extract-voices";

const RATE = 16_000;
const CHUNK_BYTES = 5 * RATE * 2;
const DURATION_S = 45 * 60;
const SEGMENTS = 600;

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;

/** Deterministic pseudo-random numbers (mulberry32), so every run benches the same conversation. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function embeddingEer(fixtures: readonly VoiceFixture[]): Promise<void> {
  const embedder = createDspEmbedder();
  const started = performance.now();
  const items = await Promise.all(
    fixtures.map(async (f) => ({
      voice: f.voice,
      value: (await embedder.embed(pcm16Samples(f.pcm), f.sampleRate)).vector,
    })),
  );
  const perUtterance = (performance.now() - started) / fixtures.length;
  const pairs = scorePairs(items, cosineSimilarity);
  const { eer, threshold } = equalErrorRate(pairs);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const voices = new Set(fixtures.map((f) => f.voice)).size;
  console.log(
    `  embedding ${DSP_EMBEDDING_MODEL} (${items[0]?.value.length} dims) over ${fixtures.length} fixture utterances of ${voices} voices, ` +
      `${pairs.length} pairs: EER ${(eer * 100).toFixed(1)}% at cosine ${threshold.toFixed(3)} ` +
      `(same-voice mean ${mean(pairs.filter((p) => p.same).map((p) => p.score)).toFixed(3)}, ` +
      `different-voice mean ${mean(pairs.filter((p) => !p.same).map((p) => p.score)).toFixed(3)}); ` +
      `${perUtterance.toFixed(1)} ms per 3 s utterance`,
  );
}

interface SyntheticSegment {
  readonly id: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly speaker: number;
}

/**
 * 600 segments over 45 minutes: mostly short turns, some monologues of 10 s or more,
 * runs of one speaker, occasional crosstalk. Speakers 0-3 are people, 4 is the user.
 */
function layoutSegments(next: () => number): SyntheticSegment[] {
  const segments: SyntheticSegment[] = [];
  let t = 500;
  let speaker = 0;
  for (let i = 0; i < SEGMENTS; i += 1) {
    const r = next();
    const length = r < 0.75 ? 1000 + next() * 3000 : r < 0.92 ? 4000 + next() * 4000 : 10_000 + next() * 4000;
    // Speaker 3 only ever says a few short things: too little for a sample.
    if (next() > 0.3) speaker = Math.floor(next() * 5);
    const chosen = speaker === 3 && (length > 2500 || next() > 0.2) ? 4 : speaker;
    const overlap = next() < 0.05 ? 500 : 0;
    const startMs = Math.max(0, Math.round(t - overlap));
    const endMs = Math.min(DURATION_S * 1000 - 500, Math.round(startMs + length));
    segments.push({ id: `seg-${String(i).padStart(4, "0")}`, startMs, endMs, speaker: chosen });
    t = endMs + 200 + next() * 600;
  }
  return segments;
}

/** The conversation's audio: each segment spoken by its speaker's voice, mixed where they overlap. */
function renderAudio(segments: readonly SyntheticSegment[], voices: readonly Buffer[]): Buffer {
  const total = DURATION_S * RATE;
  const mix = new Int32Array(total);
  for (const s of segments) {
    const voice = voices[s.speaker] as Buffer;
    const from = (s.startMs * RATE) / 1000;
    const count = ((s.endMs - s.startMs) * RATE) / 1000;
    const offset = ((s.startMs * 7919) % (voice.length / 2)) | 0;
    for (let i = 0; i < count; i += 1) {
      const j = (offset + i) % (voice.length / 2);
      mix[from + i] = (mix[from + i] as number) + voice.readInt16LE(j * 2);
    }
  }
  const out = Buffer.alloc(total * 2);
  for (let i = 0; i < total; i += 1) out.writeInt16LE(Math.max(-32768, Math.min(32767, mix[i] as number)), i * 2);
  return out;
}

async function inBatches<T>(items: readonly T[], size: number, task: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(task));
}

/** Stores the conversation as ingress, persist-audio and the events worker leave it. */
async function storeConversation(
  clients: GcpClients,
  environment: string,
  conversationId: string,
  audio: Buffer,
  segments: readonly SyntheticSegment[],
): Promise<number> {
  const db = clients.firestore;
  const now = Timestamp.now();
  const sessionStarts = [0, 100, 250, 400];
  const sessionOf = (chunk: number) => `session-${sessionStarts.filter((s) => chunk >= s).length}`;
  const sessionAt = (ms: number) => sessionOf(Math.floor((ms * RATE * 2) / 1000 / CHUNK_BYTES));
  const conversation: ConversationDoc = {
    id: conversationId,
    environment: parseEnvironmentName(environment),
    user_id: "bench-user",
    codec: "pcm16",
    sample_rate: RATE,
    channels: 1,
    chunk_size: CHUNK_BYTES,
    durable_position: audio.length,
    status: "finalized",
    final_position: audio.length,
    finalize_reason: "client",
    created_at: now,
    updated_at: now,
    finalized_at: now,
  };
  await conversationRef(db, conversationId).set(conversation);
  const chunks = chunksUpTo(audio.length, CHUNK_BYTES);
  await inBatches(chunks, 24, async (chunk) => {
    const body = audio.subarray(chunk.start, chunk.end);
    const object = chunkObjectName(conversationId, chunk.index, "pcm16");
    await clients.bucket.file(object).save(body, { resumable: false, validation: false });
    const doc: ChunkDoc = {
      index: chunk.index,
      start: chunk.start,
      end: chunk.end,
      final: chunk.end === audio.length,
      object,
      bytes: body.length,
      sha256: crypto.createHash("sha256").update(body).digest("hex"),
      session_id: sessionOf(chunk.index),
      persisted_at: now,
      samples: body.length / 2,
    };
    await chunkRef(db, conversationId, chunk.index).set(doc);
  });
  const writer = db.bulkWriter();
  for (const s of segments) {
    const session = sessionAt(s.startMs);
    // Diarization labels restart in every session.
    const label = `SPEAKER_0${(s.speaker + Number(session.slice(-1))) % 5}`;
    const person =
      s.speaker === 0
        ? "bench-p1"
        : s.speaker === 1 && Number(s.id.slice(-1)) % 2 === 0
          ? "bench-p2"
          : s.speaker === 3
            ? "bench-p4"
            : null;
    const doc: SegmentDoc = {
      id: s.id,
      start: s.startMs / 1000,
      end: s.endMs / 1000,
      text: "",
      speaker: label,
      is_user: s.speaker === 4,
      person_id: person,
      session_id: session,
      updated_at: now,
    };
    void writer.set(segmentRef(db, conversationId, s.id), doc);
    // Person 3 is named only by speaker assignments sent from the last session.
    if (s.speaker === 2) {
      void writer.set(assignmentRef(db, conversationId, s.id), {
        segment_id: s.id,
        person_id: "bench-p3",
        session_id: "session-4",
        assigned_at: now,
      });
    }
  }
  await writer.close();
  return chunks.length;
}

async function longConversation(fixtures: readonly VoiceFixture[]): Promise<void> {
  const environment = parseEnvironmentName(`bench-${crypto.randomBytes(4).toString("hex")}`);
  const resources = environmentResources(environment, localProjectId(environment));
  const clients = createGcpClients(resources);
  try {
    const voiceOf = (name: string) => Buffer.concat(fixtures.filter((f) => f.voice === name).map((f) => f.pcm));
    const voices = ["kal", "slt", "ked", "esp-sc-m7", "esp-us-m3"].map(voiceOf);
    const segments = layoutSegments(random(45));
    const audio = renderAudio(segments, voices);
    const conversationId = `bench-45min-${crypto.randomBytes(4).toString("hex")}`;
    const chunks = await storeConversation(clients, environment, conversationId, audio, segments);

    const deps = {
      db: clients.firestore,
      bucket: clients.bucket,
      embedder: createDspEmbedder(),
      settings: DEFAULT_EXTRACTION_SETTINGS,
      logger: createLogger({ level: "silent" }),
    };
    const request = { conversationId, deliveryAttempt: 1, publishedAt: new Date(), now: new Date() };
    const describe = (label: string, ms: number, outcome: Awaited<ReturnType<typeof extractConversation>>) => {
      if (outcome.kind !== "done") throw new Error(`extraction did not finish: ${JSON.stringify(outcome)}`);
      const { stats } = outcome;
      const ratio = stats.bytesWritten > 0 ? stats.bytesRead / stats.bytesWritten : 0;
      const people = outcome.people.map(
        (p) => `${p.person_id} ${p.status}${p.reason ? ` (${p.reason})` : ""} ${p.samples}`,
      );
      console.log(
        `  ${label}: ${(ms / 1000).toFixed(2)} s (aim < 3 s); read ${mb(stats.bytesRead)} in ${stats.objectReads} ranged reads; ` +
          `wrote ${stats.samplesWritten} samples, ${mb(stats.bytesWritten)}` +
          (stats.bytesWritten > 0 ? `; read/written ${ratio.toFixed(2)}x (aim < 3x)` : "") +
          `\n    people: ${people.join(", ")}`,
      );
    };
    console.log(
      `  45-minute conversation: pcm16 ${RATE} Hz, ${mb(audio.length)} in ${chunks} chunks, ${segments.length} segments, 4 sessions`,
    );
    const started = performance.now();
    const first = await extractConversation(deps, resources.bucket, request);
    describe("extraction", performance.now() - started, first);
    const rerunStart = performance.now();
    const rerun = await extractConversation(deps, resources.bucket, request);
    describe("same request again (idempotent)", performance.now() - rerunStart, rerun);
  } finally {
    await clients.close();
  }
}

export async function run(): Promise<void> {
  console.log("speaker extraction");
  const fixtures = loadVoiceFixtures();
  await embeddingEer(fixtures);
  await longConversation(fixtures);
}
