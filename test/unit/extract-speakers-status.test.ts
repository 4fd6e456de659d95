/** A run's summary status from its people's outcomes (functions/extract-speakers/status.ts). */
import { summaryStatus } from "../../functions/extract-speakers/status";

describe("summaryStatus", () => {
  it("is pending while anyone waits, failed if anyone failed, else done", () => {
    const p = (status: "extracted" | "skipped" | "failed" | "pending") => ({ person_id: "x", status, samples: 0 });
    expect(summaryStatus([p("extracted"), p("pending"), p("failed")])).toBe("pending");
    expect(summaryStatus([p("extracted"), p("failed")])).toBe("failed");
    expect(summaryStatus([p("extracted"), p("skipped")])).toBe("done");
  });
});
