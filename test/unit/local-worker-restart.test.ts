/** The local worker supervisor's restart backoff: a first crash restarts soon, a crash loop backs off to a ceiling. */
import { RESTART_BACKOFF, restartDelayMs } from "../../local/worker-processes";

describe("restartDelayMs", () => {
  it("doubles from the first delay with each crash in a row, up to the ceiling", () => {
    expect([1, 2, 3, 4].map(restartDelayMs)).toEqual([500, 1000, 2000, 4000]);
    expect(restartDelayMs(0)).toBe(RESTART_BACKOFF.firstMs);
    expect(restartDelayMs(30)).toBe(RESTART_BACKOFF.maxMs);
    for (let n = 1; n < 40; n += 1) expect(restartDelayMs(n + 1)).toBeGreaterThanOrEqual(restartDelayMs(n));
  });
});
