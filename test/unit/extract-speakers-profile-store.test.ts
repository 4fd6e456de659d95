import { competeForSlots, mergeProfile, type PersonProfile, type ProfileChange } from "../../functions/person-profile";
import type { PersonSample } from "../../shared/firestore-schema";

function sample(id: string, conversation: string, score: number, model = "m1"): PersonSample {
  return {
    uri: `gs://b/people/p/samples/${id}.wav`,
    sample_id: id,
    conversation_id: conversation,
    segment_ids: ["s"],
    duration_ms: 10_000,
    quality: { score, duration_ms: 10_000, speech_coverage: 1, assigned_coverage: 1, margin_ms: 2000 },
    embedding: { model, dim: 2, vector: model === "m1" ? [1, 0] : [0, 1] },
  };
}

function change(overrides: Partial<ProfileChange>): ProfileChange {
  return {
    personId: "p",
    userId: "u",
    conversationId: "conv",
    proposedIds: new Set(),
    added: [],
    reembedded: new Map(),
    maxSamples: 5,
    model: "m1",
    ...overrides,
  };
}

const profile = (samples: PersonSample[]): PersonProfile => ({ samples, embedding: null });

describe("competeForSlots", () => {
  const full = [0.9, 0.8, 0.7, 0.6, 0.5].map((s, i) => sample(`old-${i}`, `other-${i}`, s));

  it("cuts only candidates that can beat the stored samples of a full profile", () => {
    const result = competeForSlots(
      full,
      "conv",
      [
        { sampleId: "new-good", estimatedScore: 0.75 },
        { sampleId: "new-poor", estimatedScore: 0.4 },
      ],
      5,
    );
    expect(result).toEqual({ worthCutting: ["new-good"], alreadyStored: [], lowestKeptScore: 0.6 });
  });

  it("does not cut a candidate that is already stored (idempotent re-runs read no audio)", () => {
    const stored = [...full.slice(0, 4), sample("conv_0_10000", "conv", 0.95)];
    const result = competeForSlots(stored, "conv", [{ sampleId: "conv_0_10000", estimatedScore: 0.99 }], 5);
    expect(result.worthCutting).toEqual([]);
    expect(result.alreadyStored).toEqual(["conv_0_10000"]);
  });

  it("frees the slot of a stored sample of this conversation that is no longer proposed", () => {
    const stored = [...full.slice(0, 4), sample("conv_stale", "conv", 0.95)];
    const result = competeForSlots(stored, "conv", [{ sampleId: "conv_new", estimatedScore: 0.3 }], 5);
    expect(result.worthCutting).toEqual(["conv_new"]);
  });
});

describe("mergeProfile", () => {
  it("keeps at most maxSamples, the best by score, and drops the rest", () => {
    const stored = [0.9, 0.8, 0.7, 0.6, 0.5].map((s, i) => sample(`old-${i}`, `other-${i}`, s));
    const merged = mergeProfile(
      profile(stored),
      change({ added: [sample("new", "conv", 0.85)], proposedIds: new Set(["new"]) }),
    );
    expect(merged.samples.map((s) => s.sample_id)).toEqual(["old-0", "new", "old-1", "old-2", "old-3"]);
    expect(merged.dropped.map((s) => s.sample_id)).toEqual(["old-4"]);
  });

  it("never duplicates a sample that is added twice", () => {
    const once = mergeProfile(
      undefined,
      change({ added: [sample("new", "conv", 0.8)], proposedIds: new Set(["new"]) }),
    );
    const twice = mergeProfile(
      profile(once.samples),
      change({ added: [sample("new", "conv", 0.8)], proposedIds: new Set(["new"]) }),
    );
    expect(twice.samples.map((s) => s.sample_id)).toEqual(["new"]);
    expect(twice.dropped).toEqual([]);
  });

  it("retires this conversation's samples that selection no longer proposes, and only those", () => {
    const stored = [sample("conv_a", "conv", 0.9), sample("other", "conv-2", 0.5)];
    const merged = mergeProfile(profile(stored), change({ proposedIds: new Set() }));
    expect(merged.samples.map((s) => s.sample_id)).toEqual(["other"]);
    expect(merged.dropped.map((s) => s.sample_id)).toEqual(["conv_a"]);
  });

  it("averages the kept samples' embeddings of the current model into the profile embedding", () => {
    const stored = [sample("a", "c1", 0.9), sample("b", "c2", 0.8, "m2")];
    const merged = mergeProfile(profile(stored), change({ model: "m1" }));
    expect(merged.embedding).toEqual({ model: "m1", dim: 2, vector: [1, 0] });
    const reembedded = mergeProfile(
      profile(stored),
      change({ model: "m1", reembedded: new Map([["b", { model: "m1", dim: 2, vector: [0, 1] }]]) }),
    );
    expect(reembedded.embedding?.vector[0]).toBeCloseTo(Math.SQRT1_2);
    expect(reembedded.embedding?.vector[1]).toBeCloseTo(Math.SQRT1_2);
    expect(reembedded.samples.find((s) => s.sample_id === "b")?.embedding?.model).toBe("m1");
  });

  it("ranks samples written before quality scores existed by their length", () => {
    const legacy: PersonSample = {
      uri: "gs://b/x.wav",
      sample_id: "legacy",
      conversation_id: "old",
      segment_ids: [],
      duration_ms: 10_000,
    };
    const merged = mergeProfile(
      profile([legacy]),
      change({ added: [sample("new", "conv", 0.6)], proposedIds: new Set(["new"]), maxSamples: 1 }),
    );
    expect(merged.samples.map((s) => s.sample_id)).toEqual(["new"]);
    expect(merged.dropped.map((s) => s.sample_id)).toEqual(["legacy"]);
  });
});
