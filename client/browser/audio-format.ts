/**
 * The stream arithmetic of shared/audio-format.ts that the client session uses, without
 * the schema library, for browser bundles (see ./protocol.ts for how it is swapped in and
 * test/unit/client-browser-protocol.test.ts for the check that both files agree).
 */
import type { Codec, PositionUnit } from "../../shared/audio-format";

export type { Codec, PositionUnit, SampleRate } from "../../shared/audio-format";

export const SAMPLE_RATES = [8000, 16000, 24000, 48000] as const;
export const MAX_PCM16_FRAME_BYTES = 64 * 1024;
export const MAX_OPUS_PACKET_BYTES = 4000;

export function positionUnit(codec: Codec): PositionUnit {
  return codec === "pcm16" ? "byte" : "packet";
}
