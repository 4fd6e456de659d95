import { contentRange, parseByteRange, unsatisfiedContentRange } from "../../functions/api/byte-range";

describe("parseByteRange", () => {
  const size = 1000;
  it.each([
    ["bytes=0-99", { kind: "partial", start: 0, end: 99 }],
    ["bytes=100-", { kind: "partial", start: 100, end: 999 }],
    ["bytes=-10", { kind: "partial", start: 990, end: 999 }],
    ["bytes=-5000", { kind: "partial", start: 0, end: 999 }],
    ["bytes=990-5000", { kind: "partial", start: 990, end: 999 }],
    ["bytes=999-999", { kind: "partial", start: 999, end: 999 }],
    ["BYTES=1-2", { kind: "partial", start: 1, end: 2 }],
  ])("%s -> %o", (header, expected) => {
    expect(parseByteRange(header, size)).toEqual(expected);
  });

  it.each(["bytes=1000-", "bytes=1000-1001", "bytes=-0"])("%s is unsatisfiable", (header) => {
    expect(parseByteRange(header, size)).toEqual({ kind: "unsatisfiable" });
  });

  it.each([undefined, "bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=a-b", "bytes 0-1"])(
    "ignores %s and serves the whole body",
    (header) => {
      expect(parseByteRange(header, size)).toEqual({ kind: "whole" });
    },
  );

  it("formats Content-Range for 206 and 416", () => {
    expect(contentRange({ start: 0, end: 43 }, 1044)).toBe("bytes 0-43/1044");
    expect(unsatisfiedContentRange(1044)).toBe("bytes */1044");
  });
});
