/** The extraction worker's window audio (functions/extract-speakers/window-audio.ts): missing ranges, sample positions. */
import { mergeMissing, msToSample } from "../../functions/extract-speakers/window-audio";

describe("missing audio ranges", () => {
  it("merges adjacent missing chunks into one range", () => {
    expect(
      mergeMissing([
        { index: 4, startMs: 20_000, endMs: 25_000 },
        { index: 3, startMs: 15_000, endMs: 20_000 },
        { index: 7, startMs: 35_000, endMs: 40_000 },
      ]),
    ).toEqual([
      { start_ms: 15_000, end_ms: 25_000, chunks: [3, 4] },
      { start_ms: 35_000, end_ms: 40_000, chunks: [7] },
    ]);
  });

  it("maps milliseconds to whole samples at every supported rate", () => {
    for (const rate of [8000, 16_000, 24_000, 48_000]) expect(msToSample(14_500, rate)).toBe((14_500 * rate) / 1000);
  });
});
