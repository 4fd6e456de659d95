/**
 * A WAV file into a session, paced like a live recording (or faster), for browsers:
 * a mono pcm16 file at the conversation's rate is written byte for byte; anything else
 * goes through the same resampler and encoder as the microphone.
 */
import { AudioPipeline, type AudioSink } from "./microphone";
import { downmixPcm16, pcm16ToFloat, readWav, rmsLevel } from "./pcm";

export interface WavStreamOptions {
  /** 1 = real time (default), 4 = four times faster. */
  readonly speed?: number;
  /** Stops early (the audio written so far stays in the session). */
  readonly signal?: AbortSignal;
  /** Seconds of the file written so far. */
  readonly onProgress?: (seconds: number, totalSeconds: number) => void;
  /** The RMS level (0 to 1) of each block written, for a level meter. */
  readonly onLevel?: (rms: number) => void;
}

const STEP_MS = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Streams a WAV file's audio into `sink`; resolves when all of it was written. */
export async function streamWavFile(sink: AudioSink, file: Uint8Array, options: WavStreamOptions = {}): Promise<void> {
  const wav = readWav(file);
  const speed = options.speed ?? 1;
  const bytesPerSecond = wav.sampleRate * 2 * wav.channels;
  const step = Math.max(
    2 * wav.channels,
    Math.round((bytesPerSecond * STEP_MS) / 1000 / (2 * wav.channels)) * 2 * wav.channels,
  );
  const total = wav.pcm16.length / bytesPerSecond;
  const exact = sink.codec === "pcm16" && wav.channels === 1 && wav.sampleRate === sink.sampleRate;
  const pipeline = exact ? undefined : new AudioPipeline(sink, wav.sampleRate, options.onLevel);
  const started = performance.now();
  for (let offset = 0; offset < wav.pcm16.length; offset += step) {
    if (options.signal?.aborted) break;
    const block = wav.pcm16.subarray(offset, Math.min(offset + step, wav.pcm16.length));
    if (pipeline) pipeline.push(downmixPcm16(block, wav.channels));
    else {
      options.onLevel?.(rmsLevel(pcm16ToFloat(block)));
      await sink.write(block);
    }
    const written = (offset + block.length) / bytesPerSecond;
    options.onProgress?.(written, total);
    const due = started + (written * 1000) / speed;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
  await pipeline?.flush();
}
