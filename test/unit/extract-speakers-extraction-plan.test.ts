/** The extraction run's decisions (functions/extract-speakers/extraction-plan.ts): plans, waits and outcomes. */

import {
  type CutResult,
  canStillWait,
  failedCutRetry,
  missingAudioRetry,
  missingByPerson,
  outcomeFor,
  pendingSummary,
  planPerson,
  proposedSamples,
} from "../../functions/extract-speakers/extraction-plan";
import type { PersonSelection, SampleCandidate } from "../../functions/extract-speakers/select-samples";
import type { MissingRange } from "../../functions/extract-speakers/window-audio";
import type { PersonProfile } from "../../functions/person-profile";
import type { PersonSample } from "../../shared/firestore-schema";

const conversation = { id: "conv-1" };
const settings = { maxSamplesPerPerson: 2 };
const quality = { duration_ms: 10_000, speech_coverage: 1, assigned_coverage: 1, margin_ms: 0 };

function candidate(personId: string, startMs: number, estimatedScore = 0.5): SampleCandidate {
  return {
    personId,
    sampleId: `conv-1_${startMs}_${startMs + 10_000}`,
    startMs,
    endMs: startMs + 10_000,
    segmentIds: [`seg-${startMs}`],
    quality,
    estimatedScore,
  };
}

function stored(sampleId: string, score: number, conversationId = "conv-0"): PersonSample {
  return {
    uri: `gs://b/people/p/samples/${sampleId}.wav`,
    sample_id: sampleId,
    conversation_id: conversationId,
    segment_ids: [],
    duration_ms: 10_000,
    quality: { score, ...quality },
  };
}

const profile = (samples: PersonSample[]): PersonProfile => ({ samples, embedding: null });
const selected = (personId: string, candidates: SampleCandidate[]): PersonSelection => ({ personId, candidates });
const range = (start: number, chunk: number): MissingRange => ({
  start_ms: start,
  end_ms: start + 5000,
  chunks: [chunk],
});

describe("planPerson", () => {
  const a = [candidate("p1", 0, 0.9), candidate("p1", 20_000, 0.3)];

  it("cuts every candidate for a person with no profile yet", () => {
    const plan = planPerson("p1", selected("p1", a), undefined, conversation, true, settings);
    expect(plan.early).toBeUndefined();
    expect(plan.toCut.map((c) => c.startMs)).toEqual([0, 20_000]);
  });

  it("cuts only the candidates that can beat the stored samples of a full profile", () => {
    const full = profile([stored("old-1", 0.8), stored("old-2", 0.5)]);
    const plan = planPerson("p1", selected("p1", a), full, conversation, true, settings);
    expect(plan.toCut.map((c) => c.startMs)).toEqual([0]);
    expect(plan.lowestKeptScore).toBe(0.8);
  });

  it("ends early, before any audio, for a person no longer named, or a skipped selection", () => {
    expect(planPerson("p1", selected("p1", a), undefined, conversation, false, settings).early).toMatchObject({
      status: "skipped",
      reason: "no_segments",
    });
    const short: PersonSelection = { personId: "p1", candidates: [], reason: "too_short", detail: { longest_ms: 900 } };
    const plan = planPerson("p1", short, undefined, conversation, true, settings);
    expect(plan.early).toMatchObject({ reason: "too_short", detail: { longest_ms: 900 } });
    expect(plan.toCut).toEqual([]);
  });
});

describe("waiting for audio", () => {
  it("collects each person's missing ranges once, in window order", () => {
    const windows = [candidate("p2", 0), candidate("p1", 10_000), candidate("p1", 20_000), candidate("p3", 30_000)];
    const gaps: Record<number, MissingRange[]> = {
      0: [range(0, 0)],
      10000: [range(15_000, 3)],
      20000: [range(15_000, 3), range(25_000, 5)],
    };
    const byPerson = missingByPerson(windows, (w) => gaps[w.startMs] ?? []);
    expect([...byPerson]).toEqual([
      ["p2", [range(0, 0)]],
      ["p1", [range(15_000, 3), range(25_000, 5)]],
    ]);
  });

  it("records whom it waits for and logs the delivery attempt", () => {
    const retry = missingAudioRetry(new Map([["p1", [range(0, 0)]]]), 3);
    expect(retry.reason).toBe("audio_missing");
    expect(retry.detail).toBe("audio missing for p1");
    expect(retry.waitingFor).toEqual([
      {
        person_id: "p1",
        status: "pending",
        reason: "audio_missing",
        detail: { missing_ranges: [range(0, 0)] },
        samples: 0,
      },
    ]);
    expect(retry.logged[0]?.detail).toEqual({ missing_ranges: [range(0, 0)], delivery_attempt: 3 });
  });

  it("waits after the first cut that may succeed later, and not after a cut without speech", () => {
    const silent: CutResult = { candidate: candidate("p1", 0), outcome: { kind: "no_speech", active_ratio: 0 } };
    const failed: CutResult = {
      candidate: candidate("p2", 10_000),
      outcome: { kind: "embedding_failed", message: "503" },
    };
    const vanished: CutResult = { candidate: candidate("p3", 0), outcome: { kind: "missing", ranges: [range(0, 0)] } };
    expect(failedCutRetry([silent])).toBeUndefined();
    const retry = failedCutRetry([silent, failed, vanished]);
    expect(retry).toMatchObject({
      reason: "embedding_failed",
      detail: "embedding_failed for sample conv-1_10000_20000",
    });
    expect(retry?.waitingFor).toEqual([
      { person_id: "p2", status: "pending", reason: "embedding_failed", detail: { error: "503" }, samples: 0 },
    ]);
    expect(failedCutRetry([vanished])?.waitingFor[0]?.detail).toEqual({ missing_ranges: [range(0, 0)] });
  });

  it("records everyone else as plain pending", () => {
    const plans = ["p1", "p2"].map((p) => planPerson(p, selected(p, []), undefined, conversation, true, settings));
    const waitingFor = missingAudioRetry(new Map([["p2", [range(0, 0)]]]), undefined).waitingFor;
    expect(pendingSummary(plans, waitingFor)).toEqual([
      { person_id: "p1", status: "pending", samples: 0 },
      waitingFor[0],
    ]);
  });
});

describe("proposedSamples", () => {
  it("retires a stored sample of this conversation the run no longer proposes", () => {
    const kept = candidate("p1", 0);
    const old = profile([stored(kept.sampleId, 0.5, "conv-1"), stored("conv-1_90000_100000", 0.5, "conv-1")]);
    const plan = planPerson("p1", selected("p1", [kept]), old, conversation, true, { maxSamplesPerPerson: 5 });
    const { proposed, retires } = proposedSamples(plan, "conv-1");
    expect([...proposed]).toEqual([kept.sampleId]);
    expect(retires).toBe(true);
  });

  it("proposes nothing for a plan that ended early, so all its samples of this conversation retire", () => {
    const old = profile([stored("conv-1_0_10000", 0.5, "conv-1"), stored("other", 0.5, "conv-0")]);
    const plan = planPerson("p1", selected("p1", [candidate("p1", 0)]), old, conversation, false, settings);
    expect(proposedSamples(plan, "conv-1")).toEqual({ proposed: new Set(), retires: true });
    expect(proposedSamples(plan, "conv-9").retires).toBe(false);
  });
});

describe("outcomeFor", () => {
  const plan = planPerson("p1", selected("p1", [candidate("p1", 0, 0.7)]), undefined, conversation, true, settings);

  it("counts the kept samples of this conversation, naming what else happened", () => {
    const cuts: CutResult[] = [
      { candidate: candidate("p1", 20_000), outcome: { kind: "no_speech", active_ratio: 0.01 } },
      { candidate: candidate("p1", 40_000), outcome: { kind: "missing", ranges: [range(40_000, 8)] } },
      { candidate: candidate("p1", 60_000), outcome: { kind: "missing", ranges: [range(40_000, 8)] } },
    ];
    const kept = [stored("conv-1_0_10000", 0.8, "conv-1"), stored("elsewhere", 0.9, "conv-0")];
    expect(outcomeFor(plan, "conv-1", cuts, kept, settings)).toEqual({
      person_id: "p1",
      status: "extracted",
      samples: 1,
      detail: {
        sample_ids: ["conv-1_0_10000"],
        missing_ranges: [range(40_000, 8)],
        silent_windows: ["conv-1_20000_30000"],
      },
    });
  });

  it("without a kept sample, names the first cause: missing audio, then embedding, then silence", () => {
    const missing: CutResult = { candidate: candidate("p1", 0), outcome: { kind: "missing", ranges: [range(0, 0)] } };
    const failed: CutResult = { candidate: candidate("p1", 0), outcome: { kind: "embedding_failed", message: "x" } };
    const silent: CutResult = { candidate: candidate("p1", 0), outcome: { kind: "no_speech", active_ratio: 0 } };
    const reason = (cuts: CutResult[]) => outcomeFor(plan, "conv-1", cuts, [], settings).reason;
    expect(reason([silent, failed, missing])).toBe("audio_missing");
    expect(reason([silent, failed])).toBe("embedding_failed");
    expect(reason([silent])).toBe("no_speech_in_audio");
  });

  it("says why nothing was cut when the profile's samples are better", () => {
    expect(outcomeFor({ ...plan, lowestKeptScore: 0.9 }, "conv-1", [], [], settings)).toEqual({
      person_id: "p1",
      status: "skipped",
      reason: "sample_limit_reached",
      detail: { max_samples: 2, lowest_kept_score: 0.9, best_candidate_score: 0.7 },
      samples: 0,
    });
  });

  it("keeps an early outcome as it is", () => {
    const early = planPerson("p1", selected("p1", []), undefined, conversation, false, settings);
    expect(outcomeFor(early, "conv-1", [], undefined, settings)).toBe(early.early);
  });
});

describe("canStillWait (for audio that may still be in flight)", () => {
  const settings = { missingAudioAttempts: 5, missingAudioWaitMs: 120_000 };
  const now = new Date("2026-01-01T00:10:00Z");
  const justPublished = new Date(now.getTime() - 1000);

  it("waits on early deliveries and reports on the last one the subscription makes", () => {
    expect(canStillWait({ deliveryAttempt: 1, publishedAt: justPublished, now }, 0, settings)).toBe(true);
    expect(canStillWait({ deliveryAttempt: 4, publishedAt: justPublished, now }, 0, settings)).toBe(true);
    expect(canStillWait({ deliveryAttempt: 5, publishedAt: justPublished, now }, 0, settings)).toBe(false);
  });

  it("counts its own waits when deliveries carry no count (push through the functions framework)", () => {
    expect(canStillWait({ deliveryAttempt: undefined, publishedAt: justPublished, now }, 3, settings)).toBe(true);
    expect(canStillWait({ deliveryAttempt: undefined, publishedAt: justPublished, now }, 4, settings)).toBe(false);
  });

  it("stops waiting once the request is older than the wait, or of unknown age", () => {
    const old = new Date(now.getTime() - 120_000);
    expect(canStillWait({ deliveryAttempt: undefined, publishedAt: old, now }, 0, settings)).toBe(false);
    expect(canStillWait({ deliveryAttempt: undefined, publishedAt: undefined, now }, 0, settings)).toBe(false);
  });
});
