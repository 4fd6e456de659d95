/** The events worker's replace-only-if-newer rule (functions/events/segments.ts). */
import { compareRevision } from "../../functions/events/segments";

describe("compareRevision", () => {
  it("replaces a document only with an event at least as new", () => {
    expect(compareRevision(undefined, 5)).toBe("newer");
    expect(compareRevision(5, 5)).toBe("same");
    expect(compareRevision(5, 6)).toBe("newer");
    expect(compareRevision(6, 5)).toBe("stale");
  });
});
