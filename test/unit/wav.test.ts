import {
  decodePcm16MonoWav,
  encodePcm16MonoWav,
  encodeWav,
  parseWavHeader,
  pcm16Samples,
  WAV_HEADER_BYTES,
  WavFormatError,
  wavHeader,
} from "../../shared/wav";

describe("wavHeader", () => {
  it("writes the canonical 44-byte PCM16 header", () => {
    const header = wavHeader({ sampleRate: 16000, channels: 1 }, 32000);
    expect(header.length).toBe(WAV_HEADER_BYTES);
    expect(header.toString("ascii", 0, 4)).toBe("RIFF");
    expect(header.readUInt32LE(4)).toBe(36 + 32000);
    expect(header.toString("ascii", 8, 16)).toBe("WAVEfmt ");
    expect(header.readUInt16LE(20)).toBe(1);
    expect(header.readUInt16LE(22)).toBe(1);
    expect(header.readUInt32LE(24)).toBe(16000);
    expect(header.readUInt32LE(28)).toBe(32000);
    expect(header.readUInt16LE(32)).toBe(2);
    expect(header.readUInt16LE(34)).toBe(16);
    expect(header.toString("ascii", 36, 40)).toBe("data");
    expect(header.readUInt32LE(40)).toBe(32000);
  });

  it("refuses sizes a RIFF header cannot hold", () => {
    expect(() => wavHeader({ sampleRate: 8000, channels: 1 }, -1)).toThrow(RangeError);
    expect(() => wavHeader({ sampleRate: 8000, channels: 1 }, 1.5)).toThrow(RangeError);
    expect(() => wavHeader({ sampleRate: 8000, channels: 1 }, 2 ** 32)).toThrow(RangeError);
  });
});

describe("parseWavHeader", () => {
  it("reads back what wavHeader wrote", () => {
    const file = encodeWav({ sampleRate: 48000, channels: 1 }, Buffer.from([1, 0, 2, 0]));
    expect(parseWavHeader(file)).toEqual({
      sampleRate: 48000,
      channels: 1,
      bitsPerSample: 16,
      dataOffset: 44,
      dataBytes: 4,
    });
    expect(Array.from(pcm16Samples(decodePcm16MonoWav(file).pcm))).toEqual([1, 2]);
  });

  it("skips chunks other than fmt and data, including odd-sized ones", () => {
    const canonical = encodePcm16MonoWav(Buffer.from([0xff, 0x7f, 0x00, 0x80]), 8000);
    const list = Buffer.concat([Buffer.from("LIST"), Buffer.from([3, 0, 0, 0]), Buffer.from([9, 9, 9, 0])]);
    const file = Buffer.concat([canonical.subarray(0, 36), list, canonical.subarray(36)]);
    const parsed = parseWavHeader(file);
    expect(parsed.dataOffset).toBe(44 + list.length);
    expect(Array.from(pcm16Samples(decodePcm16MonoWav(file).pcm))).toEqual([32767, -32768]);
  });

  it("rejects what is not a PCM WAV", () => {
    expect(() => parseWavHeader(Buffer.from("not a wav file at all"))).toThrow(WavFormatError);
    const float = wavHeader({ sampleRate: 8000, channels: 1 }, 0);
    float.writeUInt16LE(3, 20);
    expect(() => parseWavHeader(float)).toThrow(/not PCM/);
    expect(() => parseWavHeader(wavHeader({ sampleRate: 8000, channels: 1 }, 0).subarray(0, 36))).toThrow(
      /no data chunk/,
    );
  });

  it("decodePcm16MonoWav refuses stereo and cuts a truncated data chunk to whole samples", () => {
    expect(() => decodePcm16MonoWav(encodeWav({ sampleRate: 8000, channels: 2 }, Buffer.alloc(8)))).toThrow(/mono/);
    const truncated = encodePcm16MonoWav(Buffer.from([1, 0, 2, 0, 3, 0]), 8000).subarray(0, 44 + 5);
    expect(Array.from(pcm16Samples(decodePcm16MonoWav(truncated).pcm))).toEqual([1, 2]);
  });
});
