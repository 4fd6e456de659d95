// shared/codecs.ts: what a codec implies for positions and frames (PROTOCOL.md section 2).
import {
  CODECS,
  MAX_OPUS_PACKET_BYTES,
  MAX_PCM16_FRAME_BYTES,
  maxAudioFrameBytes,
  positionUnit,
} from "../../shared/codecs";

describe("codecs", () => {
  it("counts pcm16 in bytes and Opus in packets", () => {
    expect(CODECS.map((codec) => [codec, positionUnit(codec)])).toEqual([
      ["pcm16", "byte"],
      ["opus", "packet"],
    ]);
  });

  it("allows pcm16 frames of 64 KiB and Opus packets of 4,000 bytes", () => {
    expect([MAX_PCM16_FRAME_BYTES, MAX_OPUS_PACKET_BYTES]).toEqual([65536, 4000]);
    expect(maxAudioFrameBytes("pcm16")).toBe(65536);
    expect(maxAudioFrameBytes("opus")).toBe(4000);
  });
});
