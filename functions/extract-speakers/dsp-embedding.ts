/**
 * tether's built-in speaker embedding: statistics of short-time speech features, computed
 * offline in Node with no model download. It is a timbre-and-pitch fingerprint, good enough
 * to tell voices apart in tests and small deployments; teams that need a neural model run
 * one behind `http-embedding.ts`.
 *
 * Vector (model `tether-dsp-v1`, 59 dimensions, L2-normalised, compared by cosine):
 *   19  mean of cepstra c1..c19 over speech frames      (vocal-tract shape, timbre)
 *   19  standard deviation of c1..c19                   (articulation range)
 *   19  standard deviation of their deltas              (articulation speed)
 *    2  mean ln(F0 / 100 Hz) and its standard deviation (pitch and intonation)
 * Pitch is taken relative to 100 Hz so that the offset every voice shares does not dominate
 * the cosine. `npm run bench` prints the equal error rate over the voice fixtures.
 */
import { l2Normalize, type SpeakerEmbedding } from "../person-profile";
import { InsufficientSpeechError, type SpeakerEmbedder } from "./embedding";
import { DEFAULT_SPEECH_FEATURE_OPTIONS, extractSpeechFeatures, type SpeechFeatureOptions } from "./speech-features";

export const DSP_EMBEDDING_MODEL = "tether-dsp-v1";

/** ln(100 Hz): pitch is measured from here. */
const PITCH_REFERENCE = Math.log(100);

/** At least this much speech (frames of 10 ms) is needed for a meaningful vector. */
const MIN_SPEECH_FRAMES = 50;

export interface DspEmbeddingWeights {
  readonly cepstralMean: number;
  readonly cepstralSpread: number;
  readonly deltaSpread: number;
  readonly pitchMean: number;
  readonly pitchSpread: number;
}

export const DEFAULT_DSP_WEIGHTS: DspEmbeddingWeights = {
  cepstralMean: 1,
  cepstralSpread: 1,
  deltaSpread: 1,
  pitchMean: 2,
  pitchSpread: 1,
};

function meanAndStd(rows: readonly Float64Array[], dims: number): { mean: number[]; std: number[] } {
  const mean = new Array<number>(dims).fill(0);
  const square = new Array<number>(dims).fill(0);
  for (const row of rows) {
    for (let k = 0; k < dims; k += 1) {
      const v = row[k] as number;
      mean[k] = (mean[k] as number) + v;
      square[k] = (square[k] as number) + v * v;
    }
  }
  const n = Math.max(1, rows.length);
  const m = mean.map((s) => s / n);
  const std = square.map((s, k) => Math.sqrt(Math.max(0, s / n - (m[k] as number) ** 2)));
  return { mean: m, std };
}

function scalarStats(values: readonly number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: 0, std: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
}

/** The raw (unnormalised) statistics vector; exported for tests and tuning. */
export function dspFeatureVector(
  samples: Int16Array,
  sampleRate: number,
  weights: DspEmbeddingWeights = DEFAULT_DSP_WEIGHTS,
  options: SpeechFeatureOptions = DEFAULT_SPEECH_FEATURE_OPTIONS,
): number[] {
  const features = extractSpeechFeatures(samples, sampleRate, options);
  if (features.cepstra.length < MIN_SPEECH_FRAMES) {
    throw new InsufficientSpeechError(
      `too little speech for an embedding: ${features.cepstra.length * options.hopMs} ms of speech frames, need ${MIN_SPEECH_FRAMES * options.hopMs} ms`,
    );
  }
  const dims = options.cepstra;
  const cepstral = meanAndStd(features.cepstra, dims);
  const delta = meanAndStd(features.deltas, dims);
  const pitch = scalarStats(features.logF0);
  return [
    ...cepstral.mean.map((v) => v * weights.cepstralMean),
    ...cepstral.std.map((v) => v * weights.cepstralSpread),
    ...delta.std.map((v) => v * weights.deltaSpread),
    (features.logF0.length > 0 ? pitch.mean - PITCH_REFERENCE : 0) * weights.pitchMean,
    pitch.std * weights.pitchSpread,
  ];
}

export function createDspEmbedder(
  weights: DspEmbeddingWeights = DEFAULT_DSP_WEIGHTS,
  options: SpeechFeatureOptions = DEFAULT_SPEECH_FEATURE_OPTIONS,
): SpeakerEmbedder {
  return {
    model: DSP_EMBEDDING_MODEL,
    async embed(samples: Int16Array, sampleRate: number): Promise<SpeakerEmbedding> {
      const vector = l2Normalize(dspFeatureVector(samples, sampleRate, weights, options));
      return { model: DSP_EMBEDDING_MODEL, dim: vector.length, vector };
    },
  };
}
