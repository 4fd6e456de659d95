/**
 * Reads a WAV file for streaming: 16-bit PCM at a sample rate the protocol accepts;
 * stereo is mixed down to mono.
 */
import fs from "node:fs";
import { SAMPLE_RATES, type SampleRate } from "../shared/audio-format";
import { parseWavHeader, WavFormatError } from "../shared/wav";

export interface WavAudio {
  readonly sampleRate: SampleRate;
  /** PCM16 little-endian mono. */
  readonly pcm: Buffer;
}

export function isSampleRate(rate: number): rate is SampleRate {
  return (SAMPLE_RATES as readonly number[]).includes(rate);
}

export function readWavFile(path: string): WavAudio {
  const file = fs.readFileSync(path);
  const header = parseWavHeader(file);
  if (header.bitsPerSample !== 16)
    throw new WavFormatError(`${path} has ${header.bitsPerSample}-bit samples; tether streams 16-bit PCM`);
  if (!isSampleRate(header.sampleRate)) {
    throw new WavFormatError(
      `${path} is sampled at ${header.sampleRate} Hz; tether accepts ${SAMPLE_RATES.join(", ")} Hz (resample it first)`,
    );
  }
  if (header.channels !== 1 && header.channels !== 2)
    throw new WavFormatError(`${path} has ${header.channels} channels; use mono or stereo`);
  const end = Math.min(file.length, header.dataOffset + header.dataBytes);
  const frameBytes = header.channels * 2;
  const frames = Math.floor((end - header.dataOffset) / frameBytes);
  const pcm = Buffer.alloc(frames * 2);
  for (let i = 0; i < frames; i += 1) {
    const at = header.dataOffset + i * frameBytes;
    const value =
      header.channels === 1 ? file.readInt16LE(at) : Math.round((file.readInt16LE(at) + file.readInt16LE(at + 2)) / 2);
    pcm.writeInt16LE(value, i * 2);
  }
  return { sampleRate: header.sampleRate, pcm };
}
