/**
 * How good a speaker sample is, as one score in [0, 1] used to keep the best samples of a
 * person across conversations. Longer is better (up to a full window), then cleaner:
 *
 *   0.50 x duration / full window            longest first
 *   0.15 x share covered by the person's speech (not pauses)
 *   0.15 x share covered by segments explicitly named as the person (not inferred)
 *   0.10 x distance to the nearest other speaker, up to 2 s
 *   0.10 x share of 25 ms frames with active speech (measured on the audio)
 *   - up to 0.2 for clipped samples (10 x the clipped fraction)
 *
 * Before the audio is read the active-speech share is assumed to be 1, an upper bound, so
 * the estimate never under-rates a candidate that would have been kept.
 */

export interface TimelineQuality {
  readonly duration_ms: number;
  readonly speech_coverage: number;
  readonly assigned_coverage: number;
  readonly margin_ms: number;
}

export interface SignalQuality {
  /** Share of 25 ms frames within 30 dB of the loudest frames and above -55 dBFS. */
  readonly active_ratio: number;
  /** Share of samples at full scale. */
  readonly clipped_ratio: number;
  /** Level of the active frames, dB full scale. */
  readonly active_level_dbfs: number;
}

export type SampleQuality = TimelineQuality & Partial<SignalQuality> & { readonly score: number };

export const MARGIN_CAP_MS = 2000;

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

export function qualityScore(timeline: TimelineQuality, fullWindowMs: number, signal?: SignalQuality): number {
  const active = signal?.active_ratio ?? 1;
  const clippingPenalty = Math.min(0.2, 10 * (signal?.clipped_ratio ?? 0));
  const score =
    0.5 * Math.min(1, timeline.duration_ms / fullWindowMs) +
    0.15 * timeline.speech_coverage +
    0.15 * timeline.assigned_coverage +
    0.1 * Math.min(1, timeline.margin_ms / MARGIN_CAP_MS) +
    0.1 * active -
    clippingPenalty;
  return round4(Math.max(0, score));
}

/** Frame statistics of PCM16 mono audio (`frameMs` frames, no overlap). */
export function measureSignal(samples: Int16Array, sampleRate: number, frameMs = 25): SignalQuality {
  const frame = Math.max(1, Math.round((sampleRate * frameMs) / 1000));
  const levels: number[] = [];
  let clipped = 0;
  for (let start = 0; start + frame <= samples.length; start += frame) {
    let energy = 0;
    for (let i = start; i < start + frame; i += 1) {
      const s = samples[i] as number;
      if (s >= 32767 || s <= -32768) clipped += 1;
      energy += (s / 32768) ** 2;
    }
    levels.push(10 * Math.log10(energy / frame + 1e-12));
  }
  if (levels.length === 0) return { active_ratio: 0, clipped_ratio: 0, active_level_dbfs: -120 };
  const sorted = [...levels].sort((a, b) => a - b);
  const loud = sorted[Math.floor((sorted.length - 1) * 0.95)] as number;
  const threshold = Math.max(loud - 30, -55);
  const active = levels.filter((db) => db > threshold);
  const activeLevel = active.length > 0 ? active.reduce((a, b) => a + b, 0) / active.length : -120;
  return {
    active_ratio: round4(active.length / levels.length),
    clipped_ratio: round4(clipped / Math.max(1, samples.length)),
    active_level_dbfs: Math.round(activeLevel * 10) / 10,
  };
}
