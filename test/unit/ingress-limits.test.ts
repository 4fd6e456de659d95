/** The ingress's limits (functions/ingress/limits.ts): the orphan sweep's interval, derived from the idle timeout unless set. */
import { DEFAULT_LIMITS, orphanSweepIntervalMs } from "../../functions/ingress/limits";

describe("orphanSweepIntervalMs", () => {
  it("defaults to half the idle timeout, at least 5 s; a set limit wins", () => {
    expect(orphanSweepIntervalMs(DEFAULT_LIMITS, 120_000)).toBe(60_000);
    expect(orphanSweepIntervalMs(DEFAULT_LIMITS, 2_000)).toBe(5_000);
    expect(orphanSweepIntervalMs({ ...DEFAULT_LIMITS, orphanSweepIntervalMs: 100 }, 120_000)).toBe(100);
  });
});
