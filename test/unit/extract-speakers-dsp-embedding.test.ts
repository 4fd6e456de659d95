/**
 * The built-in embedding on real speech: the voice fixtures (six synthetic voices, four
 * sentences each, the same sentences for every voice, so only the speaker differs).
 */
import { createDspEmbedder, DSP_EMBEDDING_MODEL } from "../../functions/extract-speakers/dsp-embedding";
import { cosineSimilarity, InsufficientSpeechError } from "../../functions/extract-speakers/embedding";
import { extractSpeechFeatures } from "../../functions/extract-speakers/speech-features";
import { profileEmbedding, type SpeakerEmbedding } from "../../functions/person-profile";
import { pcm16Samples } from "../../shared/wav";
import { equalErrorRate, loadVoiceFixtures, scorePairs } from "../support/extract-voices";

const embedder = createDspEmbedder();
const fixtures = loadVoiceFixtures();
let embedded: { voice: string; name: string; value: number[] }[];

beforeAll(async () => {
  embedded = await Promise.all(
    fixtures.map(async (f) => ({
      voice: f.voice,
      name: f.name,
      value: (await embedder.embed(pcm16Samples(f.pcm), f.sampleRate)).vector,
    })),
  );
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("the built-in DSP embedding on the voice fixtures", () => {
  it("has several voices with several utterances each", () => {
    const voices = new Set(fixtures.map((f) => f.voice));
    expect(voices.size).toBeGreaterThanOrEqual(5);
    for (const voice of voices) expect(fixtures.filter((f) => f.voice === voice).length).toBeGreaterThanOrEqual(3);
  });

  it("records its model and dimension, and gives unit vectors", async () => {
    const e = await embedder.embed(pcm16Samples(fixtures[0]?.pcm ?? Buffer.alloc(0)), 16_000);
    expect(e.model).toBe(DSP_EMBEDDING_MODEL);
    expect(e.dim).toBe(e.vector.length);
    expect(Math.hypot(...e.vector)).toBeCloseTo(1, 6);
  });

  it("puts every voice's own utterances closer to each other than to any other voice's", () => {
    const voices = [...new Set(embedded.map((e) => e.voice))];
    const between = (a: string, b: string) => {
      const scores: number[] = [];
      for (const [i, x] of embedded.entries()) {
        for (const [j, y] of embedded.entries()) {
          if (i < j && ((x.voice === a && y.voice === b) || (x.voice === b && y.voice === a))) {
            scores.push(cosineSimilarity(x.value, y.value));
          }
        }
      }
      return mean(scores);
    };
    for (const voice of voices) {
      const same = between(voice, voice);
      for (const other of voices.filter((v) => v !== voice)) expect(same).toBeGreaterThan(between(voice, other));
    }
  });

  it("finds the same voice as every utterance's nearest neighbour", () => {
    const misses = embedded.filter((x) => {
      let best = { score: -2, voice: "" };
      for (const y of embedded) {
        if (y === x) continue;
        const score = cosineSimilarity(x.value, y.value);
        if (score > best.score) best = { score, voice: y.voice };
      }
      return best.voice !== x.voice;
    });
    expect(misses.map((m) => m.name)).toEqual([]);
  });

  it("separates same-voice from different-voice pairs with an equal error rate under 10%", () => {
    const { eer } = equalErrorRate(scorePairs(embedded, cosineSimilarity));
    expect(eer).toBeLessThan(0.1);
  });

  it("does not depend on the recording level", async () => {
    const original = pcm16Samples(fixtures[0]?.pcm ?? Buffer.alloc(0));
    const quiet = Int16Array.from(original, (s) => Math.round(s * 0.1));
    const [a, b] = await Promise.all([embedder.embed(original, 16_000), embedder.embed(quiet, 16_000)]);
    expect(cosineSimilarity(a.vector, b.vector)).toBeGreaterThan(0.99);
  });

  it("refuses audio with too little speech", async () => {
    await expect(embedder.embed(new Int16Array(16_000 * 3), 16_000)).rejects.toBeInstanceOf(InsufficientSpeechError);
  });
});

describe("speech features", () => {
  it("tracks the pitch of a harmonic tone, including high voices", () => {
    for (const f0 of [90, 200, 320]) {
      const tone = new Int16Array(32_000);
      for (let i = 0; i < tone.length; i += 1) {
        let v = 0;
        for (let h = 1; h <= 10; h += 1) v += Math.sin((2 * Math.PI * f0 * h * i) / 16_000) / h;
        tone[i] = Math.round(v * 5000);
      }
      const pitches = extractSpeechFeatures(tone, 16_000)
        .logF0.map(Math.exp)
        .sort((a, b) => a - b);
      expect(pitches[Math.floor(pitches.length / 2)]).toBeCloseTo(f0, 0);
    }
  });
});

describe("profileEmbedding", () => {
  it("averages only embeddings of the given model", () => {
    const list: SpeakerEmbedding[] = [
      { model: "a", dim: 2, vector: [1, 0] },
      { model: "a", dim: 2, vector: [0, 2] },
      { model: "b", dim: 3, vector: [1, 1, 1] },
    ];
    const profile = profileEmbedding(list, "a");
    expect(profile?.model).toBe("a");
    expect(profile?.vector[0]).toBeCloseTo(Math.SQRT1_2);
    expect(profile?.vector[1]).toBeCloseTo(Math.SQRT1_2);
    expect(profileEmbedding(list, "c")).toBeNull();
  });
});
