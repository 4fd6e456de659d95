/**
 * Backpressure of one ingress socket (functions/ingress/backpressure.ts): when the pipeline's
 * load stops a socket being read, when it is read again, and when a socket held back too
 * long is given up as overloaded. The socket is a recorder of pause/resume calls; the
 * budget is the real process-wide PublishBudget; the overload clock is jest's fake timers.
 */
import { pipelinePressure, SocketBackpressure, slowedByPipeline } from "../../functions/ingress/backpressure";
import { PublishBudget } from "../../functions/ingress/publish-budget";

const chunks = (n: number) => ({ chunks: n, eventBytes: 0 });
const text = (bytes: number) => ({ chunks: 0, eventBytes: bytes });
const LIMITS = { maxChunksInFlightPerSocket: 4, maxEventBytesInFlightPerSocket: 1000 };

describe("pipelinePressure", () => {
  it("holds a socket back once its chunks in flight reach the per-socket limit", () => {
    expect(pipelinePressure(chunks(3), LIMITS, false)).toEqual({ inFlight: false, budget: false });
    expect(pipelinePressure(chunks(4), LIMITS, false)).toEqual({ inFlight: true, budget: false });
    expect(pipelinePressure(chunks(5), LIMITS, false)).toEqual({ inFlight: true, budget: false });
  });

  it("holds a socket back once its text bytes in flight reach the per-socket limit, as audio", () => {
    expect(pipelinePressure(text(999), LIMITS, false)).toEqual({ inFlight: false, budget: false });
    expect(pipelinePressure(text(1000), LIMITS, false)).toEqual({ inFlight: true, budget: false });
    expect(pipelinePressure({ chunks: 1, eventBytes: 1 }, LIMITS, false)).toEqual({ inFlight: false, budget: false });
  });

  it("holds a socket back for the exhausted budget only while it has chunks or text in flight", () => {
    expect(pipelinePressure(chunks(1), LIMITS, true)).toEqual({ inFlight: false, budget: true });
    expect(pipelinePressure(text(1), LIMITS, true)).toEqual({ inFlight: false, budget: true });
    expect(pipelinePressure(chunks(0), LIMITS, true)).toEqual({ inFlight: false, budget: false });
  });
});

describe("slowedByPipeline", () => {
  it("counts the pipeline's reasons, not the socket's own opening or stopping", () => {
    expect(slowedByPipeline(new Set())).toBe(false);
    expect(slowedByPipeline(new Set(["opening", "stopping"] as const))).toBe(false);
    expect(slowedByPipeline(new Set(["in_flight"] as const))).toBe(true);
    expect(slowedByPipeline(new Set(["budget", "opening"] as const))).toBe(true);
  });
});

describe("SocketBackpressure", () => {
  const OVERLOAD_MS = 1000;

  function setup(budgetBytes = 1_000_000) {
    const calls: string[] = [];
    let overloaded = 0;
    const socket = {
      pause: () => calls.push("pause"),
      resume: () => calls.push("resume"),
    };
    const budget = new PublishBudget(budgetBytes);
    const backpressure = new SocketBackpressure(
      socket,
      budget,
      { maxChunksInFlightPerSocket: 2, maxEventBytesInFlightPerSocket: 1000, overloadCloseMs: OVERLOAD_MS },
      () => {
        overloaded += 1;
      },
    );
    return { calls, budget, backpressure, overloaded: () => overloaded };
  }

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("reads the socket again only when every reason to pause is gone", () => {
    const { calls, backpressure } = setup();
    backpressure.pause("opening");
    backpressure.pause("stopping");
    backpressure.resume("opening");
    expect(calls).toEqual(["pause", "pause", "pause"]);
    backpressure.resume("stopping");
    expect(calls.at(-1)).toBe("resume");
  });

  it("ignores resuming a reason that was not paused", () => {
    const { calls, backpressure } = setup();
    backpressure.resume("in_flight");
    expect(calls).toEqual([]);
  });

  it("pauses at the per-socket limit of chunks in flight and resumes below it", () => {
    const { calls, backpressure } = setup();
    backpressure.apply(chunks(1));
    expect(calls).toEqual([]);
    backpressure.apply(chunks(2));
    expect(calls).toEqual(["pause"]);
    backpressure.apply(chunks(1));
    expect(calls).toEqual(["pause", "resume"]);
  });

  it("closes a socket the pipeline held back for the overload time without a break", () => {
    const { backpressure, overloaded } = setup();
    backpressure.apply(chunks(2));
    jest.advanceTimersByTime(OVERLOAD_MS - 1);
    expect(overloaded()).toBe(0);
    jest.advanceTimersByTime(1);
    expect(overloaded()).toBe(1);
  });

  it("restarts the overload clock when the pipeline lets the socket go", () => {
    const { backpressure, overloaded } = setup();
    backpressure.apply(chunks(2));
    jest.advanceTimersByTime(OVERLOAD_MS - 1);
    backpressure.apply(chunks(0));
    backpressure.apply(chunks(2));
    jest.advanceTimersByTime(OVERLOAD_MS - 1);
    expect(overloaded()).toBe(0);
    jest.advanceTimersByTime(1);
    expect(overloaded()).toBe(1);
  });

  it("never calls a socket overloaded for its own opening or stopping", () => {
    const { backpressure, overloaded } = setup();
    backpressure.pause("opening");
    backpressure.pause("stopping");
    jest.advanceTimersByTime(OVERLOAD_MS * 10);
    expect(overloaded()).toBe(0);
  });

  it("waits for the exhausted budget, then reads again when a publish releases room", () => {
    const { calls, budget, backpressure } = setup(100);
    budget.add(100);
    backpressure.apply(chunks(1));
    expect(calls).toEqual(["pause"]);
    budget.release(50);
    expect(calls).toEqual(["pause", "resume"]);
  });

  it("once closing, reads to the end and pauses no more", () => {
    const { calls, backpressure, overloaded } = setup();
    backpressure.apply(chunks(2));
    backpressure.readToClose();
    expect(calls).toEqual(["pause", "resume"]);
    backpressure.pause("stopping");
    backpressure.apply(chunks(5));
    expect(calls).toEqual(["pause", "resume"]);
    jest.advanceTimersByTime(OVERLOAD_MS * 10);
    expect(overloaded()).toBe(0);
  });

  it("after stop, neither the overload clock nor the budget wakes it", () => {
    const { calls, budget, backpressure, overloaded } = setup(100);
    budget.add(100);
    backpressure.apply(chunks(1));
    backpressure.stop();
    budget.release(100);
    jest.advanceTimersByTime(OVERLOAD_MS * 10);
    expect(overloaded()).toBe(0);
    expect(calls).toEqual(["pause"]);
  });
});
