/**
 * The codecs and sample rates the protocol accepts, and what follows from a codec: the
 * unit stream positions are counted in and the largest binary frame (PROTOCOL.md section
 * 2, "Client to server"). Plain values, no schema library: shared/audio-format.ts builds
 * its schemas from them, and the client SDK's browser bundle imports them directly.
 */

export const CODECS = ["pcm16", "opus"] as const;
export type Codec = (typeof CODECS)[number];

export const SAMPLE_RATES = [8000, 16000, 24000, 48000] as const;
export type SampleRate = (typeof SAMPLE_RATES)[number];

export type PositionUnit = "byte" | "packet";

/** PROTOCOL.md: `pcm16` counts bytes, `opus` counts packets. */
export function positionUnit(codec: Codec): PositionUnit {
  return codec === "pcm16" ? "byte" : "packet";
}

/** Protocol limits on one binary frame. */
export const MAX_PCM16_FRAME_BYTES = 64 * 1024;
export const MAX_OPUS_PACKET_BYTES = 4000;

/** Largest binary frame a codec allows. */
export function maxAudioFrameBytes(codec: Codec): number {
  return codec === "pcm16" ? MAX_PCM16_FRAME_BYTES : MAX_OPUS_PACKET_BYTES;
}
