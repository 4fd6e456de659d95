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
import { createDspEmbedder, DSP_EMBEDDING_MODEL } from "../functions/extract-speakers/dsp-embedding";
import { cosineSimilarity } from "../functions/extract-speakers/embedding";
import { extractConversation } from "../functions/extract-speakers/extract-conversation";
import { mulberry32, type Random } from "../local/seeded-random";
import { environmentResources, localProjectId, parseEnvironmentName } from "../shared/environment";
import { DEFAULT_EXTRACTION_SETTINGS } from "../shared/extraction-settings";
import { createGcpClients } from "../shared/gcp-clients";
import { createLogger } from "../shared/logger";
import { pcm16Samples } from "../shared/wav";
import { type SeedConversation, type SeedSegment, seedConversation } from "../test/support/extract-conversation";
import { equalErrorRate, loadVoiceFixtures, scorePairs, type VoiceFixture } from "../test/support/extract-voices";

const RATE = 16_000;
const CHUNK_BYTES = 5 * RATE * 2;
const DURATION_S = 45 * 60;
const SEGMENTS = 600;

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;

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
function layoutSegments(next: Random): SyntheticSegment[] {
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

/** The conversation as ingress, persist-audio and the events worker leave it (test/support/extract-conversation.ts). */
function benchSeed(conversationId: string, audio: Buffer, segments: readonly SyntheticSegment[]): SeedConversation {
  const sessionStarts = [0, 100, 250, 400];
  const sessions = sessionStarts.map((firstChunk, i) => ({ id: `session-${i + 1}`, firstChunk }));
  const sessionAt = (ms: number) => {
    const chunk = Math.floor((ms * RATE * 2) / 1000 / CHUNK_BYTES);
    return `session-${sessionStarts.filter((s) => chunk >= s).length}`;
  };
  const seeded: SeedSegment[] = segments.map((s) => {
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
    return {
      id: s.id,
      start: s.startMs / 1000,
      end: s.endMs / 1000,
      speaker: label,
      is_user: s.speaker === 4,
      person_id: person,
      session_id: session,
    };
  });
  // Person 3 is named only by speaker assignments sent from the last session.
  const assignments = segments
    .filter((s) => s.speaker === 2)
    .map((s) => ({ segment_id: s.id, person_id: "bench-p3", session_id: "session-4" }));
  return {
    conversationId,
    userId: "bench-user",
    codec: "pcm16",
    sampleRate: RATE,
    chunkSize: CHUNK_BYTES,
    audio,
    sessions,
    segments: seeded,
    assignments,
  };
}

async function longConversation(fixtures: readonly VoiceFixture[]): Promise<void> {
  const environment = parseEnvironmentName(`bench-${crypto.randomBytes(4).toString("hex")}`);
  const resources = environmentResources(environment, localProjectId(environment));
  const clients = createGcpClients(resources);
  try {
    const voiceOf = (name: string) => Buffer.concat(fixtures.filter((f) => f.voice === name).map((f) => f.pcm));
    const voices = ["kal", "slt", "ked", "esp-sc-m7", "esp-us-m3"].map(voiceOf);
    const segments = layoutSegments(mulberry32(45));
    const audio = renderAudio(segments, voices);
    const conversationId = `bench-45min-${crypto.randomBytes(4).toString("hex")}`;
    await seedConversation({ resources, clients }, benchSeed(conversationId, audio, segments));
    const chunks = Math.ceil(audio.length / CHUNK_BYTES);

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
    // A duplicate request for a generation that has its result is acknowledged without a run.
    if (rerun.kind !== "answered") throw new Error(`the same request ran again: ${JSON.stringify(rerun)}`);
    console.log(
      `  same request again: answered without a run in ${((performance.now() - rerunStart) / 1000).toFixed(2)} s`,
    );
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
