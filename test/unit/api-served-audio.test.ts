/** Which stored chunks the API's audio.wav serves: the contiguous run from chunk 0 up to the final one. */
import { contiguousChunks } from "../../functions/api/served-audio";

describe("contiguousChunks", () => {
  const c = (index: number, final = false) => ({ index, final });
  it("stops at the first gap and after the final chunk", () => {
    expect(contiguousChunks([c(0), c(1), c(3)]).map((x) => x.index)).toEqual([0, 1]);
    expect(contiguousChunks([c(1), c(2)])).toEqual([]);
    expect(contiguousChunks([c(0), c(1, true), c(2)]).map((x) => x.index)).toEqual([0, 1]);
  });
});
