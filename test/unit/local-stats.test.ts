/**
 * The bench's percentile helper: nearest-rank values on known data, indifferent to input
 * order, never mutating its input, and p50 <= p99 <= max on any set of samples.
 */
import { distribution, formatDistribution, percentile } from "../../local/stats";

const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

function shuffled(values: readonly number[], seed: number): number[] {
  const out = [...values];
  let s = seed;
  for (let i = out.length - 1; i > 0; i -= 1) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as number, out[i] as number];
  }
  return out;
}

describe("percentile", () => {
  it("is the nearest rank on known data", () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile(oneToHundred, 0)).toBe(1);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
    expect(percentile([10, 20, 30, 40], 51)).toBe(30);
    expect(percentile([7], 99)).toBe(7);
  });

  it("does not depend on the order of the samples, and leaves them as they were", () => {
    const input = shuffled(oneToHundred, 3);
    const copy = [...input];
    expect(percentile(input, 50)).toBe(50);
    expect(percentile(input, 99)).toBe(99);
    expect(input).toEqual(copy);
  });

  it("is NaN without samples and refuses a percentile outside 0..100", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });

  it("sorts numbers as numbers, not as strings", () => {
    expect(percentile([9, 10, 100, 2], 100)).toBe(100);
    expect(percentile([9, 10, 100, 2], 50)).toBe(9);
  });
});

describe("distribution", () => {
  it("gives p50 <= p99 <= max for any samples", () => {
    let seed = 11;
    for (let run = 0; run < 200; run += 1) {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      const n = 1 + (seed % 500);
      const samples = Array.from({ length: n }, () => {
        seed = (seed * 1664525 + 1013904223) >>> 0;
        return (seed % 10_000) / 7;
      });
      const d = distribution(samples);
      expect(d.count).toBe(n);
      expect(d.p50).toBeLessThanOrEqual(d.p99);
      expect(d.p99).toBeLessThanOrEqual(d.max);
      expect(d.max).toBe(Math.max(...samples));
    }
  });

  it("reads the same figures as percentile()", () => {
    const samples = shuffled(oneToHundred, 5);
    expect(distribution(samples)).toEqual({ count: 100, p50: 50, p99: 99, max: 100 });
  });

  it("refuses samples that are not finite numbers", () => {
    expect(() => distribution([1, Number.NaN])).toThrow(RangeError);
    expect(() => distribution([1, Number.POSITIVE_INFINITY])).toThrow(RangeError);
  });

  it("formats one line, and says so when there are no samples", () => {
    expect(formatDistribution(distribution([5, 1, 3]))).toBe("p50 3 ms, p99 5 ms, max 5 ms (3 samples)");
    expect(formatDistribution(distribution([]))).toBe("no samples");
  });
});
