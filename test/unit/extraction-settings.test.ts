/** The extraction thresholds from the environment (shared/extraction-settings.ts). */
import { DEFAULT_EXTRACTION_SETTINGS, loadExtractionSettings } from "../../shared/extraction-settings";

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
