/**
 * Short-time speech features for the built-in speaker embedding: mel-frequency cepstra of
 * the speech frames and the fundamental frequency of the voiced ones.
 *
 * Spectra come from fft.js (a radix-4 FFT); pitch is the peak of the autocorrelation,
 * computed as the inverse transform of the power spectrum (Wiener-Khinchin). Frame sizes
 * are fixed in milliseconds and filters in Hz, so features of one speaker agree across
 * sample rates as far as the band allows.
 */
import FFT from "fft.js";

export interface SpeechFeatureOptions {
  /** Analysis window and hop for the spectra. */
  readonly frameMs: number;
  readonly hopMs: number;
  readonly melBands: number;
  /** Cepstral coefficients kept, c1..cN (c0, the loudness, is dropped). */
  readonly cepstra: number;
  readonly minHz: number;
  /** Upper edge of the filterbank, capped just under the Nyquist frequency. */
  readonly maxHz: number;
  /** Frames quieter than the loud frames' level minus this many dB are not speech. */
  readonly speechRangeDb: number;
  /** Frames below this absolute level (dB full scale) are never speech. */
  readonly silenceFloorDbfs: number;
  /** Pitch search range and the normalised autocorrelation a voiced frame must reach. */
  readonly minF0Hz: number;
  readonly maxF0Hz: number;
  readonly voicingThreshold: number;
  readonly pitchFrameMs: number;
  readonly pitchHopMs: number;
}

export const DEFAULT_SPEECH_FEATURE_OPTIONS: SpeechFeatureOptions = {
  frameMs: 25,
  hopMs: 10,
  melBands: 40,
  cepstra: 19,
  minHz: 60,
  maxHz: 7600,
  speechRangeDb: 30,
  silenceFloorDbfs: -60,
  minF0Hz: 60,
  maxF0Hz: 400,
  voicingThreshold: 0.5,
  pitchFrameMs: 32,
  pitchHopMs: 20,
};

export interface SpeechFeatures {
  /** Cepstra c1..cN of each speech frame, in time order. */
  readonly cepstra: Float64Array[];
  /** Deltas (slope over +/-2 frames) of the same frames' cepstra. */
  readonly deltas: Float64Array[];
  /** ln(F0 / Hz) of each voiced pitch frame. */
  readonly logF0: number[];
  readonly frames: number;
  readonly pitchFrames: number;
}

function nextPowerOfTwo(n: number): number {
  let p = 2;
  while (p < n) p *= 2;
  return p;
}

function hamming(length: number): Float64Array {
  const w = new Float64Array(length);
  for (let i = 0; i < length; i += 1) w[i] = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (length - 1));
  return w;
}

const hzToMel = (hz: number): number => 2595 * Math.log10(1 + hz / 700);
const melToHz = (mel: number): number => 700 * (10 ** (mel / 2595) - 1);

/** Triangular mel filters as [firstBin, weights] over the `fftSize / 2 + 1` bins. */
function melFilterbank(
  bands: number,
  fftSize: number,
  sampleRate: number,
  minHz: number,
  maxHz: number,
): { first: number; weights: Float64Array }[] {
  const top = Math.min(maxHz, sampleRate / 2 - 100);
  const lowMel = hzToMel(minHz);
  const highMel = hzToMel(top);
  const edges: number[] = [];
  for (let i = 0; i < bands + 2; i += 1) edges.push(melToHz(lowMel + ((highMel - lowMel) * i) / (bands + 1)));
  const binHz = sampleRate / fftSize;
  const filters: { first: number; weights: Float64Array }[] = [];
  for (let b = 0; b < bands; b += 1) {
    const [left, centre, right] = [edges[b] as number, edges[b + 1] as number, edges[b + 2] as number];
    const first = Math.max(0, Math.ceil(left / binHz));
    const last = Math.min(fftSize / 2, Math.floor(right / binHz));
    const weights = new Float64Array(Math.max(0, last - first + 1));
    for (let k = first; k <= last; k += 1) {
      const hz = k * binHz;
      weights[k - first] = hz <= centre ? (hz - left) / (centre - left) : (right - hz) / (right - centre);
    }
    filters.push({ first, weights });
  }
  return filters;
}

/** Orthonormal DCT-II rows 1..count over `bands` inputs. */
function dctMatrix(bands: number, count: number): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let k = 1; k <= count; k += 1) {
    const row = new Float64Array(bands);
    for (let n = 0; n < bands; n += 1) row[n] = Math.sqrt(2 / bands) * Math.cos((Math.PI * k * (n + 0.5)) / bands);
    rows.push(row);
  }
  return rows;
}

function toFloat(samples: Int16Array): Float64Array {
  const out = new Float64Array(samples.length);
  for (let i = 0; i < samples.length; i += 1) out[i] = (samples[i] as number) / 32768;
  return out;
}

interface SpectralFrames {
  readonly cepstra: Float64Array[];
  readonly levelsDb: Float64Array;
}

function spectralFrames(x: Float64Array, sampleRate: number, o: SpeechFeatureOptions): SpectralFrames {
  const frameLength = Math.round((o.frameMs * sampleRate) / 1000);
  const hop = Math.round((o.hopMs * sampleRate) / 1000);
  const fftSize = nextPowerOfTwo(frameLength);
  const fft = new FFT(fftSize);
  const window = hamming(frameLength);
  const filters = melFilterbank(o.melBands, fftSize, sampleRate, o.minHz, o.maxHz);
  const dct = dctMatrix(o.melBands, o.cepstra);
  const input = new Float64Array(fftSize);
  const spectrum = new Float64Array(fftSize * 2);
  const logMel = new Float64Array(o.melBands);
  const count = x.length >= frameLength ? 1 + Math.floor((x.length - frameLength) / hop) : 0;
  const cepstra: Float64Array[] = [];
  const levelsDb = new Float64Array(count);
  for (let f = 0; f < count; f += 1) {
    const start = f * hop;
    let energy = 0;
    for (let i = 0; i < frameLength; i += 1) {
      const s = x[start + i] as number;
      energy += s * s;
      // Pre-emphasis flattens the spectral tilt of voiced speech.
      const previous = start + i > 0 ? (x[start + i - 1] as number) : 0;
      input[i] = (s - 0.97 * previous) * (window[i] as number);
    }
    levelsDb[f] = 10 * Math.log10(energy / frameLength + 1e-12);
    fft.realTransform(spectrum, input);
    filters.forEach(({ first, weights }, b) => {
      let sum = 0;
      for (let j = 0; j < weights.length; j += 1) {
        const re = spectrum[2 * (first + j)] as number;
        const im = spectrum[2 * (first + j) + 1] as number;
        sum += (weights[j] as number) * (re * re + im * im);
      }
      logMel[b] = Math.log(sum + 1e-10);
    });
    const c = new Float64Array(o.cepstra);
    dct.forEach((row, k) => {
      let sum = 0;
      for (let n = 0; n < o.melBands; n += 1) sum += (row[n] as number) * (logMel[n] as number);
      c[k] = sum;
    });
    cepstra.push(c);
  }
  return { cepstra, levelsDb };
}

/** Frames within `speechRangeDb` of the loud frames (95th percentile), above the floor. */
function speechMask(levelsDb: Float64Array, o: SpeechFeatureOptions): boolean[] {
  if (levelsDb.length === 0) return [];
  const sorted = Array.from(levelsDb).sort((a, b) => a - b);
  const loud = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] as number;
  const threshold = Math.max(loud - o.speechRangeDb, o.silenceFloorDbfs);
  return Array.from(levelsDb, (db) => db > threshold);
}

function deltas(frames: readonly Float64Array[], dims: number): Float64Array[] {
  const out: Float64Array[] = [];
  const at = (i: number): Float64Array => frames[Math.max(0, Math.min(frames.length - 1, i))] as Float64Array;
  for (let t = 0; t < frames.length; t += 1) {
    const d = new Float64Array(dims);
    for (let k = 0; k < dims; k += 1) {
      d[k] =
        ((at(t + 1)[k] as number) -
          (at(t - 1)[k] as number) +
          2 * ((at(t + 2)[k] as number) - (at(t - 2)[k] as number))) /
        10;
    }
    out.push(d);
  }
  return out;
}

/** ln F0 of each voiced frame, from the normalised autocorrelation peak. */
function pitchTrack(
  x: Float64Array,
  sampleRate: number,
  o: SpeechFeatureOptions,
  isSpeech: (sample: number) => boolean,
): { logF0: number[]; frames: number } {
  const frameLength = Math.round((o.pitchFrameMs * sampleRate) / 1000);
  const hop = Math.round((o.pitchHopMs * sampleRate) / 1000);
  // Zero-padding to twice the frame keeps the circular autocorrelation linear.
  const fftSize = nextPowerOfTwo(2 * frameLength);
  const fft = new FFT(fftSize);
  const window = hamming(frameLength);
  const minLag = Math.floor(sampleRate / o.maxF0Hz);
  const maxLag = Math.min(frameLength - 1, Math.ceil(sampleRate / o.minF0Hz));
  const input = new Float64Array(fftSize);
  const spectrum = new Float64Array(fftSize * 2);
  const power = new Float64Array(fftSize);
  const autocorrelation = new Float64Array(fftSize * 2);
  // The window's own autocorrelation, to undo its taper at each lag.
  const windowAc = new Float64Array(maxLag + 2);
  for (let lag = 0; lag <= maxLag + 1; lag += 1) {
    let sum = 0;
    for (let i = 0; i + lag < frameLength; i += 1) sum += (window[i] as number) * (window[i + lag] as number);
    windowAc[lag] = sum;
  }
  const logF0: number[] = [];
  const count = x.length >= frameLength ? 1 + Math.floor((x.length - frameLength) / hop) : 0;
  for (let f = 0; f < count; f += 1) {
    const start = f * hop;
    // Silence has no pitch: only speech frames pay for the two transforms.
    if (!isSpeech(start + frameLength / 2)) continue;
    let mean = 0;
    for (let i = 0; i < frameLength; i += 1) mean += x[start + i] as number;
    mean /= frameLength;
    input.fill(0);
    for (let i = 0; i < frameLength; i += 1) input[i] = ((x[start + i] as number) - mean) * (window[i] as number);
    fft.realTransform(spectrum, input);
    for (let k = 0; k <= fftSize / 2; k += 1) {
      const re = spectrum[2 * k] as number;
      const im = spectrum[2 * k + 1] as number;
      power[k] = re * re + im * im;
      if (k > 0) power[fftSize - k] = power[k] as number;
    }
    // The power spectrum is real and even, so its forward real transform is the
    // autocorrelation (times fftSize): half the work of a complex inverse transform.
    fft.realTransform(autocorrelation, power);
    const r0 = autocorrelation[0] as number;
    if (r0 <= 1e-9) continue;
    const normalised = (lag: number): number =>
      (autocorrelation[2 * lag] as number) / r0 / ((windowAc[lag] as number) / (windowAc[0] as number));
    // A periodic frame also peaks at every multiple of its period, and the taper correction
    // lifts long lags: take the shortest-lag local peak within 10% of the highest one.
    let highest = 0;
    for (let lag = minLag; lag <= maxLag; lag += 1) highest = Math.max(highest, normalised(lag));
    if (highest < o.voicingThreshold) continue;
    let bestLag = -1;
    let best = 0;
    for (let lag = minLag; lag <= maxLag; lag += 1) {
      const value = normalised(lag);
      if (value >= 0.9 * highest && value >= normalised(lag - 1) && value >= normalised(Math.min(maxLag, lag + 1))) {
        bestLag = lag;
        best = value;
        break;
      }
    }
    if (bestLag < 0) continue;
    // Parabolic interpolation around the peak for a sub-sample lag.
    const left = normalised(Math.max(minLag, bestLag - 1));
    const right = normalised(Math.min(maxLag, bestLag + 1));
    const curvature = left - 2 * best + right;
    const shift = curvature < 0 ? (0.5 * (left - right)) / curvature : 0;
    logF0.push(Math.log(sampleRate / (bestLag + Math.max(-0.5, Math.min(0.5, shift)))));
  }
  return { logF0, frames: count };
}

export function extractSpeechFeatures(
  samples: Int16Array,
  sampleRate: number,
  options: SpeechFeatureOptions = DEFAULT_SPEECH_FEATURE_OPTIONS,
): SpeechFeatures {
  const x = toFloat(samples);
  const { cepstra, levelsDb } = spectralFrames(x, sampleRate, options);
  const allDeltas = deltas(cepstra, options.cepstra);
  const mask = speechMask(levelsDb, options);
  const hop = Math.round((options.hopMs * sampleRate) / 1000);
  const frameLength = Math.round((options.frameMs * sampleRate) / 1000);
  const isSpeech = (sample: number): boolean =>
    mask[Math.max(0, Math.min(mask.length - 1, Math.round((sample - frameLength / 2) / hop)))] === true;
  const pitch = pitchTrack(x, sampleRate, options, isSpeech);
  return {
    cepstra: cepstra.filter((_, i) => mask[i]),
    deltas: allDeltas.filter((_, i) => mask[i]),
    logF0: pitch.logF0,
    frames: cepstra.length,
    pitchFrames: pitch.frames,
  };
}
