/** The layout of a conversation's audio stream (functions/audio-stream.ts): where each chunk's samples sit, and which part of which chunk a byte range reads. */
import { type LaidOutChunk, layOutChunks, piecesInRange, streamSamples } from "../../functions/audio-stream";

const chunk = (index: number, samples: number): Omit<LaidOutChunk, "firstSample"> => ({
  index,
  record: {
    index,
    start: index * 100,
    end: index * 100 + 100,
    final: false,
    object: `c${index}`,
    bytes: samples * 2,
    samples,
  },
  samples,
});

describe("layOutChunks", () => {
  it("places chunks end to end by their sample counts", () => {
    const spans = layOutChunks([chunk(0, 960), chunk(1, 480), chunk(2, 1920)]);
    expect(spans.map((s) => [s.index, s.firstSample, s.samples])).toEqual([
      [0, 0, 960],
      [1, 960, 480],
      [2, 1440, 1920],
    ]);
    expect(streamSamples(spans)).toBe(3360);
  });

  it("keeps a chunk that is not persisted in its place, so the chunks after it keep theirs", () => {
    const spans = layOutChunks([chunk(0, 100), { ...chunk(1, 100), record: undefined }, chunk(2, 100)]);
    expect(spans[1]).toMatchObject({ record: undefined, firstSample: 100 });
    expect(spans[2]?.firstSample).toBe(200);
  });

  it("carries each chunk's record with its place", () => {
    const [span] = layOutChunks([chunk(0, 10)]);
    expect(span?.record).toMatchObject({ index: 0, object: "c0", bytes: 20 });
  });

  it("refuses a list with a gap or out of order: a place would be a guess", () => {
    expect(() => layOutChunks([chunk(0, 10), chunk(2, 10)])).toThrow(RangeError);
    expect(() => layOutChunks([chunk(1, 10), chunk(0, 10)])).toThrow(/position 0 holds 1/);
  });

  it("lays out nothing as an empty stream", () => {
    expect(layOutChunks([])).toEqual([]);
    expect(streamSamples([])).toBe(0);
  });
});

describe("piecesInRange", () => {
  // Chunks of 100, 50 and 100 samples: PCM bytes [0, 200), [200, 300), [300, 500).
  const spans = layOutChunks([chunk(0, 100), chunk(1, 50), chunk(2, 100)]);
  const pieces = (from: number, to: number) =>
    piecesInRange(spans, from, to).map((p) => [p.span.index, p.from, p.to, p.previous?.index]);

  it("maps a range inside one chunk to that chunk's own bytes", () => {
    expect(pieces(210, 250)).toEqual([[1, 10, 50, 0]]);
  });

  it("splits a range across chunk boundaries, in order, with the chunk before each", () => {
    expect(pieces(150, 350)).toEqual([
      [0, 150, 200, undefined],
      [1, 0, 100, 0],
      [2, 0, 50, 1],
    ]);
  });

  it("keeps odd byte offsets (a WAV range may start mid-sample)", () => {
    expect(pieces(1, 201)).toEqual([
      [0, 1, 200, undefined],
      [1, 0, 1, 0],
    ]);
  });

  it("touches no chunk the range only borders", () => {
    expect(pieces(200, 300)).toEqual([[1, 0, 100, 0]]);
  });

  it("covers exactly the part of the range the stream has", () => {
    expect(pieces(450, 900)).toEqual([[2, 150, 200, 1]]);
    expect(pieces(500, 600)).toEqual([]);
    expect(pieces(100, 100)).toEqual([]);
  });

  it("sums to the range's length wherever the stream covers it", () => {
    for (let from = 0; from < 500; from += 37) {
      for (let to = from; to <= 500; to += 41) {
        const total = piecesInRange(spans, from, to).reduce((sum, p) => sum + p.to - p.from, 0);
        expect(total).toBe(to - from);
      }
    }
  });
});
