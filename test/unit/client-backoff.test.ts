import { backoffDelay, DEFAULT_BACKOFF } from "../../client/backoff";

describe("backoffDelay", () => {
  const policy = { ...DEFAULT_BACKOFF, initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0.5 };

  it("grows exponentially up to the cap", () => {
    const noJitter = () => 0;
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(policy, a, noJitter))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it("takes up to `jitter` of the delay away at random", () => {
    expect(backoffDelay(policy, 2, () => 0.999)).toBe(200);
    expect(backoffDelay(policy, 2, () => 0.5)).toBe(300);
    expect(backoffDelay({ ...policy, jitter: 0 }, 2, () => 0.9)).toBe(400);
  });

  it("waits at least the overload delay after 1013", () => {
    expect(backoffDelay({ ...policy, overloadedDelayMs: 2000 }, 0, () => 0, true)).toBe(2000);
  });
});
