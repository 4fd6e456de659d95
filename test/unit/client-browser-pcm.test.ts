// The browser audio helpers' arithmetic: resampling across blocks, pcm16, framing, WAV reading.
import {
  Framer,
  floatToPcm16,
  LinearResampler,
  pcm16ToFloat,
  readWav,
  rmsLevel,
  WavReadError,
} from "../../client/browser/pcm";
import { wavHeader } from "../../shared/wav";

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => i / n);
}

describe("LinearResampler", () => {
  it("gives the same samples whether the input comes in one block or many", () => {
    const input = ramp(4800);
    const whole = new LinearResampler(48000, 16000).process(input);
    const split = new LinearResampler(48000, 16000);
    const parts: number[] = [];
    for (let i = 0; i < input.length; i += 128) parts.push(...split.process(input.subarray(i, i + 128)));
    expect(parts.length).toBe(whole.length);
    for (const [i, v] of parts.entries()) expect(v).toBeCloseTo(whole[i] as number, 6);
    // 48 kHz -> 16 kHz keeps every third sample of a ramp, and about a third of the count.
    expect(whole[1]).toBeCloseTo(input[3] as number, 6);
    expect(Math.abs(whole.length - 1600)).toBeLessThanOrEqual(1);
  });

  it("interpolates when upsampling", () => {
    const out = new LinearResampler(8000, 16000).process(Float32Array.from([0, 1, 0, 1]));
    expect(Array.from(out.subarray(0, 5))).toEqual([0, 0.5, 1, 0.5, 0]);
  });
});

describe("pcm16", () => {
  it("round-trips, clamps, and is little-endian", () => {
    const bytes = floatToPcm16(Float32Array.from([0, 1, -1, 2, -2, 0.5]));
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, 0xff, 0x7f]);
    expect(Array.from(pcm16ToFloat(bytes))).toEqual([0, 0x7fff / 0x8000, -1, 0x7fff / 0x8000, -1, 0x4000 / 0x8000]);
  });

  it("frames exactly and keeps the rest", () => {
    const framer = new Framer(320);
    expect(framer.push(ramp(700)).map((f) => f.length)).toEqual([320, 320]);
    expect(framer.push(ramp(250)).map((f) => f.length)).toEqual([]);
    expect(framer.push(ramp(20)).map((f) => f.length)).toEqual([320]);
    expect(framer.flush().length).toBe(10);
  });
});

describe("readWav", () => {
  it("returns the data chunk byte for byte, after any other chunk", () => {
    const data = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const header = new Uint8Array(wavHeader({ sampleRate: 16000, channels: 1 }, data.length));
    // Insert a LIST chunk between fmt and data.
    const list = Uint8Array.from([0x4c, 0x49, 0x53, 0x54, 2, 0, 0, 0, 9, 9]);
    const file = new Uint8Array([...header.subarray(0, 36), ...list, ...header.subarray(36), ...data]);
    const wav = readWav(file);
    expect(wav).toEqual({ sampleRate: 16000, channels: 1, pcm16: data });
  });

  it("refuses what it cannot stream", () => {
    expect(() => readWav(Uint8Array.from([1, 2, 3]))).toThrow(WavReadError);
  });
});

describe("rmsLevel", () => {
  it("is the root-mean-square of the samples, 0 for none", () => {
    expect(rmsLevel(Float32Array.from([0.5, -0.5, 0.5, -0.5]))).toBeCloseTo(0.5);
    expect(rmsLevel(Float32Array.from([1, 0, 0, 0]))).toBeCloseTo(0.5);
    expect(rmsLevel(new Float32Array(0))).toBe(0);
  });
});
