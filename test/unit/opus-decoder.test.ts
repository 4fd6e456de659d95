/** Opus chunk bodies to PCM16 for the WAV: lengths from TOC bytes, decoding per chunk. */
import OpusScript from "opusscript";
import { frameOpusPackets, type SampleRate } from "../../shared/audio-format";
import {
  decodeOpusChunk,
  decodeOpusPackets,
  OpusPacketError,
  opusChunkSampleCount,
  opusPacketSampleCount,
} from "../../shared/opus-decoder";

function sine(samples: number, rate: number, offset = 0): Buffer {
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i += 1)
    pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * (i + offset)) / rate)), i * 2);
  return pcm;
}

function encode(rate: SampleRate, packets: number, frameMs = 20): Buffer[] {
  const encoder = new OpusScript(rate, 1, OpusScript.Application.AUDIO);
  const frame = (rate * frameMs) / 1000;
  try {
    return Array.from({ length: packets }, (_, i) => encoder.encode(sine(frame, rate, i * frame), frame));
  } finally {
    encoder.delete();
  }
}

describe("opusPacketSampleCount", () => {
  it.each([
    // [TOC byte, extra byte, rate, samples]
    [0b00001_000, undefined, 16000, 320], // SILK NB 20 ms, one frame
    [0b00011_000, undefined, 48000, 2880], // SILK NB 60 ms
    [0b01101_001, undefined, 16000, 640], // Hybrid 20 ms, two frames
    [0b10000_000, undefined, 48000, 120], // CELT 2.5 ms
    [0b11111_011, 6, 8000, 960], // CELT 20 ms, code 3 with 6 frames = 120 ms
  ])("TOC %i reads as the right number of samples", (toc, extra, rate, samples) => {
    const packet = Buffer.from(extra === undefined ? [toc, 0] : [toc, extra, 0]);
    expect(opusPacketSampleCount(packet, rate as SampleRate)).toBe(samples);
  });

  it("rejects empty packets, zero-frame packets and packets over 120 ms", () => {
    expect(() => opusPacketSampleCount(Buffer.alloc(0), 16000)).toThrow(OpusPacketError);
    expect(() => opusPacketSampleCount(Buffer.from([0b11111_011]), 16000)).toThrow(/frame count/);
    expect(() => opusPacketSampleCount(Buffer.from([0b11111_011, 0]), 16000)).toThrow(/zero frames/);
    expect(() => opusPacketSampleCount(Buffer.from([0b11111_011, 7]), 16000)).toThrow(/exceeds 120 ms/);
  });

  it("agrees with what libopus decodes for real packets", () => {
    for (const rate of [8000, 16000, 24000, 48000] as const) {
      const packets = encode(rate, 3);
      const decoded = decodeOpusPackets(packets, rate);
      expect(decoded.failedPackets).toBe(0);
      expect(decoded.pcm.length).toBe(packets.reduce((sum, p) => sum + opusPacketSampleCount(p, rate) * 2, 0));
      expect(decoded.pcm.length).toBe(3 * (rate / 50) * 2);
    }
  });
});

describe("decodeOpusChunk", () => {
  it("decodes framed chunk bodies to audio close to what was encoded", () => {
    const rate = 16000;
    const packets = encode(rate, 50);
    const body = frameOpusPackets(packets);
    expect(opusChunkSampleCount(body, rate)).toBe(50 * 320);
    const { pcm, failedPackets } = decodeOpusChunk(body, rate);
    expect(failedPackets).toBe(0);
    // Lossy, so compare energy rather than samples: a 440 Hz sine at amplitude 8000 has RMS ~5657.
    let sum = 0;
    for (let i = 320 * 10; i < pcm.length / 2; i += 1) sum += pcm.readInt16LE(i * 2) ** 2;
    const rms = Math.sqrt(sum / (pcm.length / 2 - 320 * 10));
    expect(rms).toBeGreaterThan(4000);
    expect(rms).toBeLessThan(7500);
  });

  it("is deterministic for a chunk given the chunk before it (ranged reads match full reads)", () => {
    const rate = 48000;
    const packets = encode(rate, 20);
    const first = frameOpusPackets(packets.slice(0, 10));
    const second = frameOpusPackets(packets.slice(10));
    const once = decodeOpusChunk(second, rate, first).pcm;
    const again = decodeOpusChunk(second, rate, first).pcm;
    expect(again.equals(once)).toBe(true);
  });

  it("replaces a packet libopus refuses with silence of its declared length", () => {
    const rate = 16000;
    const good = encode(rate, 2);
    // A valid TOC (SILK 20 ms, code 3) whose frame-count byte announces VBR padding that is not there.
    const broken = Buffer.from([0b00001_011, 0b11000001, 0xff]);
    expect(opusPacketSampleCount(broken, rate)).toBe(320);
    const decoded = decodeOpusPackets([good[0] as Buffer, broken, good[1] as Buffer], rate);
    expect(decoded.failedPackets).toBe(1);
    expect(decoded.pcm.length).toBe(3 * 320 * 2);
    expect(decoded.pcm.subarray(640, 1280).every((b) => b === 0)).toBe(true);
  });
});
