/**
 * Pure sample arithmetic for the browser audio helpers: a streaming resampler from the
 * device's rate to the conversation's, float samples to pcm16 (little-endian), framing,
 * and a small WAV reader for recording from a file. No DOM, no Node: unit-tested in Node.
 */

/**
 * Streaming linear-interpolation resampler. Output sample k sits at input position
 * k * inRate / outRate; the last input sample of one block is kept so that interpolation
 * runs across block boundaries without a seam.
 */
export class LinearResampler {
  private readonly step: number;
  /** Position of the next output sample, in input samples, relative to the next block (-1 = `previous`). */
  private position = 0;
  private previous = 0;

  constructor(
    readonly inRate: number,
    readonly outRate: number,
  ) {
    if (!(inRate > 0 && outRate > 0)) throw new RangeError("sample rates must be positive");
    this.step = inRate / outRate;
  }

  process(input: Float32Array): Float32Array {
    if (this.inRate === this.outRate) return input.slice();
    const n = input.length;
    if (n === 0) return new Float32Array(0);
    const out = new Float32Array(Math.ceil((n + 1) / this.step) + 1);
    let count = 0;
    let p = this.position;
    while (p < n - 1) {
      const i = Math.floor(p);
      const a = i < 0 ? this.previous : (input[i] as number);
      const b = input[i + 1] as number;
      out[count++] = a + (b - a) * (p - i);
      p += this.step;
    }
    this.position = p - n;
    this.previous = input[n - 1] as number;
    return out.subarray(0, count);
  }
}

/** Float samples in [-1, 1] as pcm16 little-endian bytes (clamped). */
export function floatToPcm16(samples: Float32Array): Uint8Array {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i += 1) {
    const s = Math.max(-1, Math.min(1, samples[i] as number));
    view.setInt16(i * 2, Math.round(s < 0 ? s * 0x8000 : s * 0x7fff), true);
  }
  return bytes;
}

/** pcm16 little-endian bytes as float samples. */
export function pcm16ToFloat(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength - (bytes.byteLength % 2));
  const out = new Float32Array(view.byteLength / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = view.getInt16(i * 2, true) / 0x8000;
  return out;
}

/** Root-mean-square level of float samples, in [0, 1] (0 for none): what a level meter shows. */
export function rmsLevel(samples: Float32Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length);
}

/** Collects samples and hands them out in frames of exactly `frameSamples` (the rest waits). */
export class Framer {
  private pending = new Float32Array(0);

  constructor(readonly frameSamples: number) {
    if (!(frameSamples >= 1)) throw new RangeError("a frame holds at least one sample");
  }

  push(samples: Float32Array): Float32Array[] {
    const all = new Float32Array(this.pending.length + samples.length);
    all.set(this.pending);
    all.set(samples, this.pending.length);
    const frames: Float32Array[] = [];
    let offset = 0;
    for (; offset + this.frameSamples <= all.length; offset += this.frameSamples) {
      frames.push(all.slice(offset, offset + this.frameSamples));
    }
    this.pending = all.slice(offset);
    return frames;
  }

  /** What is left, shorter than a frame. */
  flush(): Float32Array {
    const rest = this.pending;
    this.pending = new Float32Array(0);
    return rest;
  }
}

export interface WavAudio {
  readonly sampleRate: number;
  readonly channels: number;
  /** The data chunk's interleaved pcm16 bytes. */
  readonly pcm16: Uint8Array;
}

export class WavReadError extends Error {
  override name = "WavReadError";
}

/** Reads a PCM16 RIFF/WAVE file (any chunk order, any extra chunks). */
export function readWav(file: Uint8Array): WavAudio {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const tag = (offset: number) => String.fromCharCode(...file.subarray(offset, offset + 4));
  if (file.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new WavReadError("not a WAV file");
  let format: { sampleRate: number; channels: number } | undefined;
  for (let offset = 12; offset + 8 <= file.byteLength; ) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "fmt ") {
      const audioFormat = view.getUint16(body, true);
      const bits = view.getUint16(body + 14, true);
      if ((audioFormat !== 1 && audioFormat !== 0xfffe) || bits !== 16) {
        throw new WavReadError("only 16-bit PCM WAV files can be streamed");
      }
      format = { channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true) };
    } else if (id === "data") {
      if (format === undefined) throw new WavReadError("the WAV file has no `fmt ` chunk before its data");
      const end = Math.min(file.byteLength, body + size);
      return { ...format, pcm16: file.slice(body, end - ((end - body) % (2 * format.channels))) };
    }
    offset = body + size + (size % 2);
  }
  throw new WavReadError("the WAV file has no `data` chunk");
}

/** Mixes interleaved pcm16 down to one channel of float samples. */
export function downmixPcm16(pcm16: Uint8Array, channels: number): Float32Array {
  const interleaved = pcm16ToFloat(pcm16);
  if (channels === 1) return interleaved;
  const out = new Float32Array(Math.floor(interleaved.length / channels));
  for (let i = 0; i < out.length; i += 1) {
    let sum = 0;
    for (let c = 0; c < channels; c += 1) sum += interleaved[i * channels + c] as number;
    out[i] = sum / channels;
  }
  return out;
}
