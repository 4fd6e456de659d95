/** When a finalizing conversation's audio is complete (functions/finalization.ts). */
import { chunkCompleteness } from "../../functions/finalization";

const chunk = (index: number, end: number) => ({ index, end });

describe("chunkCompleteness", () => {
  it("is complete when every chunk up to the final position is there, the last one short", () => {
    expect(chunkCompleteness(25, 10, [chunk(2, 25), chunk(0, 10), chunk(1, 20)])).toEqual({ complete: true });
  });

  it("is complete at once for a conversation without audio", () => {
    expect(chunkCompleteness(0, 10, [])).toEqual({ complete: true });
  });

  it("lists the missing chunks", () => {
    expect(chunkCompleteness(40, 10, [chunk(0, 10), chunk(2, 30)])).toEqual({ complete: false, missing: [1, 3] });
  });

  it("is not complete when the last chunk ends elsewhere than the final position, and says why", () => {
    const result = chunkCompleteness(25, 10, [chunk(0, 10), chunk(1, 20), chunk(2, 30)]);
    expect(result).toEqual({ complete: false, missing: [2], problem: expect.stringContaining("final position is 25") });
  });
});
