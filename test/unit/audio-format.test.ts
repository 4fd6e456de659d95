import {
  chunkAt,
  chunkSizeUnits,
  chunksUpTo,
  frameOpusPackets,
  positionUnit,
  unframeOpusPackets,
  unitsToMilliseconds,
} from "../../shared/audio-format";

describe("chunk arithmetic", () => {
  it("sizes pcm16 chunks in whole samples and opus chunks in 20 ms packets", () => {
    expect(chunkSizeUnits("pcm16", 16000, 5)).toBe(160_000);
    expect(chunkSizeUnits("pcm16", 8000, 0.5)).toBe(8000);
    expect(chunkSizeUnits("opus", 48000, 5)).toBe(250);
    expect(positionUnit("pcm16")).toBe("byte");
    expect(positionUnit("opus")).toBe("packet");
  });

  it("places a position in the same chunk whatever socket carried it", () => {
    expect(chunkAt(0, 100)).toEqual({ index: 0, start: 0, end: 100 });
    expect(chunkAt(99, 100)).toEqual({ index: 0, start: 0, end: 100 });
    expect(chunkAt(100, 100)).toEqual({ index: 1, start: 100, end: 200 });
  });

  it("covers a conversation with full chunks and one short last chunk", () => {
    expect(chunksUpTo(250, 100)).toEqual([
      { index: 0, start: 0, end: 100 },
      { index: 1, start: 100, end: 200 },
      { index: 2, start: 200, end: 250 },
    ]);
    expect(chunksUpTo(0, 100)).toEqual([]);
    expect(chunksUpTo(200, 100).map((c) => c.index)).toEqual([0, 1]);
  });

  it("converts units to milliseconds", () => {
    expect(unitsToMilliseconds("pcm16", 16000, 32000)).toBe(1000);
    expect(unitsToMilliseconds("opus", 16000, 50)).toBe(1000);
  });
});

describe("opus chunk framing", () => {
  it("round-trips packets, including empty ones", () => {
    const packets = [Buffer.from([1, 2, 3]), Buffer.alloc(0), Buffer.alloc(4000, 7)];
    const framed = frameOpusPackets(packets);
    expect(framed.length).toBe(3 + 0 + 4000 + 6);
    expect(unframeOpusPackets(framed)).toEqual(packets);
  });

  it("rejects a truncated body", () => {
    const framed = frameOpusPackets([Buffer.from([1, 2, 3])]);
    expect(() => unframeOpusPackets(framed.subarray(0, 4))).toThrow(/truncated/);
    expect(() => unframeOpusPackets(framed.subarray(0, 1))).toThrow(/truncated/);
  });
});
