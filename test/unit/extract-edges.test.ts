/** The extraction worker's edges: the request message, its settings, missing-range reports. */
import { mergeMissing, msToSample } from "../../functions/extract-speakers/conversation-audio";
import { canStillWait } from "../../functions/extract-speakers/extraction-plan";
import { parseExtractionMessage } from "../../functions/extract-speakers/extraction-request";
import { measureSignal, qualityScore } from "../../functions/extract-speakers/sample-quality";
import { summaryStatus } from "../../functions/extract-speakers/status";
import { parseEnvironmentName } from "../../shared/environment";
import { DEFAULT_EXTRACTION_SETTINGS, loadExtractionSettings } from "../../shared/extraction-settings";
import type { ReceivedMessage } from "../../shared/pubsub-event";

const staging = parseEnvironmentName("staging");

function message(attributes: Record<string, string>, body: unknown): ReceivedMessage {
  return {
    id: "m1",
    data: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
    attributes,
    publishTime: undefined,
    orderingKey: undefined,
    deliveryAttempt: undefined,
  };
}

const good = { schema_version: "1", environment: "staging", conversation_id: "conv-12345678", reason: "finalized" };

describe("parseExtractionMessage", () => {
  it("accepts a well-formed request of this environment", () => {
    expect(parseExtractionMessage(message(good, { conversation_id: "conv-12345678" }), staging)).toEqual({
      ok: true,
      attributes: good,
    });
  });

  it("refuses another environment's request before anything else", () => {
    const parsed = parseExtractionMessage(message({ ...good, environment: "prod", schema_version: "9" }, "{"), staging);
    expect(parsed).toMatchObject({ ok: false, rejection: { reason: "wrong_environment" } });
  });

  it.each([
    ["an unknown reason", { ...good, reason: "because" }, { conversation_id: "conv-12345678" }, "invalid_schema"],
    ["a bad schema version", { ...good, schema_version: "2" }, { conversation_id: "conv-12345678" }, "invalid_schema"],
    ["a body that is not JSON", good, "not json", "invalid_body"],
    ["a body without the id", good, {}, "invalid_body"],
    ["a body naming another conversation", good, { conversation_id: "conv-87654321" }, "conversation_mismatch"],
  ])("refuses %s", (_name, attributes, body, reason) => {
    expect(parseExtractionMessage(message(attributes, body), staging)).toMatchObject({
      ok: false,
      rejection: { reason },
    });
  });
});

describe("loadExtractionSettings", () => {
  it("uses the defaults when nothing is set", () => {
    expect(loadExtractionSettings({})).toEqual(DEFAULT_EXTRACTION_SETTINGS);
  });

  it("reads every threshold from TETHER_EXTRACTION_* variables (seconds)", () => {
    const settings = loadExtractionSettings({
      TETHER_EXTRACTION_MIN_SEGMENT_SECONDS: "12",
      TETHER_EXTRACTION_WINDOW_HALF_SECONDS: "6",
      TETHER_EXTRACTION_MIN_SAMPLE_SECONDS: "9.5",
      TETHER_EXTRACTION_MAX_JOIN_GAP_SECONDS: "1",
      TETHER_EXTRACTION_OVERLAP_GUARD_SECONDS: "0.3",
      TETHER_EXTRACTION_MAX_SAMPLES_PER_PERSON: "3",
      TETHER_EXTRACTION_MIN_ACTIVE_SPEECH_RATIO: "0.5",
      TETHER_EXTRACTION_MISSING_AUDIO_ATTEMPTS: "4",
      TETHER_EXTRACTION_MISSING_AUDIO_WAIT_SECONDS: "60",
      TETHER_EXTRACTION_EMBEDDING_TIMEOUT_SECONDS: "5",
      TETHER_EXTRACTION_CONCURRENCY: "2",
    });
    expect(settings).toEqual({
      minSegmentMs: 12_000,
      windowHalfMs: 6000,
      minSampleMs: 9500,
      maxJoinGapMs: 1000,
      overlapGuardMs: 300,
      maxSamplesPerPerson: 3,
      minActiveSpeechRatio: 0.5,
      missingAudioAttempts: 4,
      missingAudioWaitMs: 60_000,
      embeddingTimeoutMs: 5000,
      concurrency: 2,
    });
  });

  it("names the variable that is wrong", () => {
    expect(() => loadExtractionSettings({ TETHER_EXTRACTION_MAX_SAMPLES_PER_PERSON: "zero" })).toThrow(
      /TETHER_EXTRACTION_MAX_SAMPLES_PER_PERSON/,
    );
    expect(() => loadExtractionSettings({ TETHER_EXTRACTION_MIN_SAMPLE_SECONDS: "11" })).toThrow(
      /at most twice TETHER_EXTRACTION_WINDOW_HALF_SECONDS/,
    );
  });
});

describe("missing audio ranges", () => {
  it("merges adjacent missing chunks into one range", () => {
    expect(
      mergeMissing([
        { index: 4, startMs: 20_000, endMs: 25_000 },
        { index: 3, startMs: 15_000, endMs: 20_000 },
        { index: 7, startMs: 35_000, endMs: 40_000 },
      ]),
    ).toEqual([
      { start_ms: 15_000, end_ms: 25_000, chunks: [3, 4] },
      { start_ms: 35_000, end_ms: 40_000, chunks: [7] },
    ]);
  });

  it("maps milliseconds to whole samples at every supported rate", () => {
    for (const rate of [8000, 16_000, 24_000, 48_000]) expect(msToSample(14_500, rate)).toBe((14_500 * rate) / 1000);
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

describe("sample quality", () => {
  it("scores longer, cleaner samples higher", () => {
    const clean = { duration_ms: 10_000, speech_coverage: 1, assigned_coverage: 1, margin_ms: 2000 };
    expect(qualityScore(clean, 10_000)).toBe(1);
    expect(qualityScore({ ...clean, duration_ms: 8000 }, 10_000)).toBeLessThan(1);
    expect(qualityScore({ ...clean, margin_ms: 200 }, 10_000)).toBeLessThan(1);
    const clipped = { active_ratio: 1, clipped_ratio: 0.05, active_level_dbfs: -3 };
    expect(qualityScore(clean, 10_000, clipped)).toBeCloseTo(0.8);
  });

  it("measures active speech and clipping", () => {
    const samples = new Int16Array(16_000);
    for (let i = 0; i < 8000; i += 1) samples[i] = Math.round(12_000 * Math.sin(i / 5));
    samples[100] = 32767;
    const signal = measureSignal(samples, 16_000);
    expect(signal.active_ratio).toBe(0.5);
    expect(signal.clipped_ratio).toBeCloseTo(1 / 16_000);
    expect(measureSignal(new Int16Array(16_000), 16_000).active_ratio).toBe(0);
  });
});

describe("summaryStatus", () => {
  it("is pending while anyone waits, failed if anyone failed, else done", () => {
    const p = (status: "extracted" | "skipped" | "failed" | "pending") => ({ person_id: "x", status, samples: 0 });
    expect(summaryStatus([p("extracted"), p("pending"), p("failed")])).toBe("pending");
    expect(summaryStatus([p("extracted"), p("failed")])).toBe("failed");
    expect(summaryStatus([p("extracted"), p("skipped")])).toBe("done");
  });
});
