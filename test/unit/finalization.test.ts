/** When a finalizing conversation's audio is complete (functions/finalization.ts). */
import { chunkCompleteness } from "../../functions/finalization";

const last = (index: number, end: number) => ({ index, end });

describe("chunkCompleteness", () => {
  it("is complete when every chunk up to the final position is there, the last one short", () => {
    expect(chunkCompleteness(25, 10, { below: 3, last: last(2, 25) })).toEqual({ complete: true });
  });

  it("is complete at once for a conversation without audio", () => {
    expect(chunkCompleteness(0, 10, { below: 0, last: undefined })).toEqual({ complete: true });
  });

  it("counts the missing chunks", () => {
    expect(chunkCompleteness(40, 10, { below: 2, last: undefined })).toEqual({ complete: false, missing: 2 });
  });

  it("is not complete when the last chunk ends elsewhere than the final position, and says why", () => {
    const result = chunkCompleteness(25, 10, { below: 3, last: last(2, 30) });
    expect(result).toEqual({ complete: false, missing: 1, problem: expect.stringContaining("final position is 25") });
  });
});
