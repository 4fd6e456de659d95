// When a socket is warned before its maximum life, and what a warned socket does (functions/ingress/drain.ts).
import { maxAgePlan, SocketGoaway } from "../../functions/ingress/drain";
import type { GoawayMessage } from "../../shared/protocol";

describe("maxAgePlan", () => {
  it("warns a quarter of the life before its end, at most 30 s before", () => {
    expect(maxAgePlan(20_000)).toEqual({ warnAfterMs: 15_000, closeInMs: 5_000 });
    expect(maxAgePlan(3_480_000)).toEqual({ warnAfterMs: 3_450_000, closeInMs: 30_000 });
  });
});

describe("SocketGoaway", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function target(open = () => true) {
    const sent: GoawayMessage[] = [];
    const calls = { moved: 0, expired: 0, unwatched: 0 };
    const warned: Array<[string, number]> = [];
    let lost: () => void = () => undefined;
    const goaway = new SocketGoaway({
      send: (message) => open() && sent.push(message) > 0,
      warned: (reason, closeInMs) => warned.push([reason, closeInMs]),
      watchOwner: (onLost) => {
        lost = onLost;
        return () => {
          calls.unwatched += 1;
        };
      },
      moved: () => {
        calls.moved += 1;
      },
      expired: () => {
        calls.expired += 1;
      },
    });
    return { goaway, sent, calls, warned, lose: () => lost() };
  }

  it("sends max_socket_age before the maximum life, then expires at it", () => {
    const { goaway, sent, calls, warned } = target();
    goaway.armMaxAge(20_000);
    jest.advanceTimersByTime(14_999);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual([{ type: "goaway", reason: "max_socket_age", close_in_ms: 5_000 }]);
    expect(warned).toEqual([["max_socket_age", 5_000]]); // logged like a drain's
    jest.advanceTimersByTime(5_000);
    expect(calls).toMatchObject({ expired: 1, moved: 0 });
  });

  it("a drain warns once; the client's move closes it before the deadline", () => {
    const { goaway, sent, calls, warned, lose } = target();
    goaway.armMaxAge(20_000);
    goaway.send("draining", 4_000);
    goaway.send("draining", 4_000);
    lose();
    goaway.stop();
    jest.advanceTimersByTime(60_000);
    expect(sent).toEqual([{ type: "goaway", reason: "draining", close_in_ms: 4_000 }]);
    expect(calls).toEqual({ moved: 1, expired: 0, unwatched: 1 });
    expect(warned).toEqual([["draining", 4_000]]);
  });

  it("a drain's warning that came while the socket opened goes out at ready, with the time left", () => {
    let isOpen = false;
    const { goaway, sent, calls } = target(() => isOpen);
    goaway.send("draining", 4_000);
    jest.advanceTimersByTime(1_500);
    expect(sent).toEqual([]);
    isOpen = true;
    goaway.armMaxAge(20_000);
    expect(sent).toEqual([{ type: "goaway", reason: "draining", close_in_ms: 2_500 }]);
    jest.advanceTimersByTime(2_499);
    expect(calls.expired).toBe(0);
    jest.advanceTimersByTime(1);
    expect(calls.expired).toBe(1);
    // The drain's warning replaces the socket's age warning.
    jest.advanceTimersByTime(60_000);
    expect(sent).toHaveLength(1);
  });
});
