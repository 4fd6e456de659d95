/**
 * Every threshold of speaker extraction, with its default, and the optional environment
 * variables that override them (validated at start-up, seconds like the other settings).
 */
import { z } from "zod";
import { ConfigError } from "./config-error";

export interface ExtractionSettings {
  /** A segment at least this long is a sample source on its own. */
  readonly minSegmentMs: number;
  /** Samples are the anchor segment's centre +/- this (a 10 s window by default). */
  readonly windowHalfMs: number;
  /** No sample is shorter than this, after cutting away other speakers. */
  readonly minSampleMs: number;
  /** A shorter segment is extended over same-speaker neighbours separated by at most this silence. */
  readonly maxJoinGapMs: number;
  /** Keep this far from another speaker's segment (segment edges are approximate). */
  readonly overlapGuardMs: number;
  /** At most this many samples per person, across conversations (the best are kept). */
  readonly maxSamplesPerPerson: number;
  /** A cut window with less active speech than this fraction is rejected as silent. */
  readonly minActiveSpeechRatio: number;
  /** Deliveries of one request that wait for missing audio before it is reported. */
  readonly missingAudioAttempts: number;
  /** Without a delivery count, wait this long after publishing before reporting missing audio. */
  readonly missingAudioWaitMs: number;
  /** Timeout of one call to the hosted embedding service. */
  readonly embeddingTimeoutMs: number;
  /** Samples cut and embedded at the same time. */
  readonly concurrency: number;
}

export const DEFAULT_EXTRACTION_SETTINGS: ExtractionSettings = {
  minSegmentMs: 10_000,
  windowHalfMs: 5_000,
  minSampleMs: 8_000,
  maxJoinGapMs: 1_500,
  overlapGuardMs: 200,
  maxSamplesPerPerson: 5,
  minActiveSpeechRatio: 0.4,
  // The subscription dead-letters after 5 deliveries: report on the 5th, never lose it.
  missingAudioAttempts: 5,
  missingAudioWaitMs: 120_000,
  embeddingTimeoutMs: 15_000,
  concurrency: 4,
};

const secondsToMs = z.coerce
  .number()
  .nonnegative()
  .max(3600)
  .transform((s) => Math.round(s * 1000));

/** TETHER_EXTRACTION_* variables; each is optional and falls back to the default. */
export const extractionSettingsEnvSchema = z
  .object({
    TETHER_EXTRACTION_MIN_SEGMENT_SECONDS: secondsToMs.optional(),
    TETHER_EXTRACTION_WINDOW_HALF_SECONDS: secondsToMs.optional(),
    TETHER_EXTRACTION_MIN_SAMPLE_SECONDS: secondsToMs.optional(),
    TETHER_EXTRACTION_MAX_JOIN_GAP_SECONDS: secondsToMs.optional(),
    TETHER_EXTRACTION_OVERLAP_GUARD_SECONDS: secondsToMs.optional(),
    TETHER_EXTRACTION_MAX_SAMPLES_PER_PERSON: z.coerce.number().int().min(1).max(50).optional(),
    TETHER_EXTRACTION_MIN_ACTIVE_SPEECH_RATIO: z.coerce.number().min(0).max(1).optional(),
    TETHER_EXTRACTION_MISSING_AUDIO_ATTEMPTS: z.coerce.number().int().min(1).max(100).optional(),
    TETHER_EXTRACTION_MISSING_AUDIO_WAIT_SECONDS: secondsToMs.optional(),
    TETHER_EXTRACTION_EMBEDDING_TIMEOUT_SECONDS: secondsToMs.optional(),
    TETHER_EXTRACTION_CONCURRENCY: z.coerce.number().int().min(1).max(32).optional(),
  })
  .superRefine((v, ctx) => {
    const half = v.TETHER_EXTRACTION_WINDOW_HALF_SECONDS ?? DEFAULT_EXTRACTION_SETTINGS.windowHalfMs;
    const min = v.TETHER_EXTRACTION_MIN_SAMPLE_SECONDS ?? DEFAULT_EXTRACTION_SETTINGS.minSampleMs;
    if (min > 2 * half || min <= 0) {
      ctx.addIssue({
        code: "custom",
        path: ["TETHER_EXTRACTION_MIN_SAMPLE_SECONDS"],
        message:
          "must be positive and at most twice TETHER_EXTRACTION_WINDOW_HALF_SECONDS (a sample is at most one window)",
      });
    }
  });

/** Settings from the process environment; throws `ConfigError` naming each bad variable. */
export function loadExtractionSettings(source: Readonly<Record<string, string | undefined>>): ExtractionSettings {
  const parsed = extractionSettingsEnvSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = issue.path.join(".");
      return `${variable} ${issue.message} (got ${JSON.stringify(source[variable])})`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join("; ")}`);
  }
  const v = parsed.data;
  const d = DEFAULT_EXTRACTION_SETTINGS;
  return {
    minSegmentMs: v.TETHER_EXTRACTION_MIN_SEGMENT_SECONDS ?? d.minSegmentMs,
    windowHalfMs: v.TETHER_EXTRACTION_WINDOW_HALF_SECONDS ?? d.windowHalfMs,
    minSampleMs: v.TETHER_EXTRACTION_MIN_SAMPLE_SECONDS ?? d.minSampleMs,
    maxJoinGapMs: v.TETHER_EXTRACTION_MAX_JOIN_GAP_SECONDS ?? d.maxJoinGapMs,
    overlapGuardMs: v.TETHER_EXTRACTION_OVERLAP_GUARD_SECONDS ?? d.overlapGuardMs,
    maxSamplesPerPerson: v.TETHER_EXTRACTION_MAX_SAMPLES_PER_PERSON ?? d.maxSamplesPerPerson,
    minActiveSpeechRatio: v.TETHER_EXTRACTION_MIN_ACTIVE_SPEECH_RATIO ?? d.minActiveSpeechRatio,
    missingAudioAttempts: v.TETHER_EXTRACTION_MISSING_AUDIO_ATTEMPTS ?? d.missingAudioAttempts,
    missingAudioWaitMs: v.TETHER_EXTRACTION_MISSING_AUDIO_WAIT_SECONDS ?? d.missingAudioWaitMs,
    embeddingTimeoutMs: v.TETHER_EXTRACTION_EMBEDDING_TIMEOUT_SECONDS ?? d.embeddingTimeoutMs,
    concurrency: v.TETHER_EXTRACTION_CONCURRENCY ?? d.concurrency,
  };
}
