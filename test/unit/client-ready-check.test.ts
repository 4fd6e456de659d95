// client/ready-check.ts: every rule a `ready` must meet before the session goes on from its position.
import { checkReady, minimumReplayBytes, type ReadyContext, type ReadyVerdict } from "../../client/ready-check";
import type { ReadyMessage } from "../../shared/protocol";

const READY: ReadyMessage = {
  type: "ready",
  protocol: 1,
  environment: "staging",
  conversation_id: "conv_12345678",
  session_id: "s2",
  resume_token: "rt",
  position_unit: "byte",
  position: 1000,
  chunk_size: 100,
};

/** A client that reconnects: staging, conv_12345678, holding [600, 1400) with 800 acknowledged. */
const RECONNECT: ReadyContext = {
  stage: "reconnect",
  environment: "staging",
  conversationId: "conv_12345678",
  codec: "pcm16",
  positionUnit: "byte",
  held: { start: 600, end: 1400, capacityBytes: 10_000 },
  acked: 800,
};

/** Nothing held yet. */
const EMPTY_AT_0 = { start: 0, end: 0, capacityBytes: 10_000 };

/** The error code of a refusal, or "ok" with whether the buffer is rebased. */
function outcome(verdict: ReadyVerdict): string {
  return verdict.ok ? `ok${verdict.rebase ? " rebase" : ""}` : verdict.error.code;
}

describe("checkReady", () => {
  it("refuses another environment, naming both", () => {
    const verdict = checkReady({ ...READY, environment: "prod" }, RECONNECT);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.error.code).toBe("environment_changed");
    expect(verdict.error.details).toEqual({ environment: "prod", expectedEnvironment: "staging" });
  });

  it("refuses another conversation, also on the first ready of a conversation the app named", () => {
    expect(outcome(checkReady({ ...READY, conversation_id: "conv_87654321" }, RECONNECT))).toBe("environment_changed");
    const named: ReadyContext = { ...RECONNECT, stage: "first", environment: undefined, held: EMPTY_AT_0 };
    expect(outcome(checkReady({ ...READY, conversation_id: "conv_87654321" }, named))).toBe("environment_changed");
    expect(outcome(checkReady(READY, { ...named, conversationId: undefined }))).toBe("ok rebase");
  });

  it("refuses positions counted in another unit than the codec's", () => {
    expect(outcome(checkReady({ ...READY, position_unit: "packet" }, RECONNECT))).toBe("protocol_violation");
  });

  it("on a reconnect, accepts positions from the acknowledged one to the end of what is held", () => {
    const at = (position: number) => outcome(checkReady({ ...READY, position }, RECONNECT));
    expect([at(799), at(800), at(1000), at(1400), at(1401)]).toEqual([
      "position_mismatch",
      "ok",
      "ok",
      "ok",
      "position_mismatch",
    ]);
  });

  it("after a restore from a store, accepts any position in the stored audio", () => {
    const restored: ReadyContext = { ...RECONNECT, stage: "restored", environment: undefined, acked: 600 };
    const at = (position: number) => outcome(checkReady({ ...READY, position }, restored));
    expect([at(599), at(600), at(1400), at(1401)]).toEqual(["position_mismatch", "ok", "ok", "position_mismatch"]);
  });

  it("on the first ready, starts an empty buffer at the server's position", () => {
    const first: ReadyContext = { ...RECONNECT, stage: "first", environment: undefined, held: EMPTY_AT_0, acked: 0 };
    expect(outcome(checkReady({ ...READY, position: 0 }, first))).toBe("ok rebase");
    expect(outcome(checkReady({ ...READY, position: 5000 }, first))).toBe("ok rebase");
  });

  it("on the first ready, accepts audio written before it only where the server resumes", () => {
    const first: ReadyContext = {
      ...RECONNECT,
      stage: "first",
      environment: undefined,
      held: { start: 0, end: 400, capacityBytes: 10_000 },
      acked: 0,
    };
    expect(outcome(checkReady({ ...READY, position: 0 }, first))).toBe("ok");
    expect(outcome(checkReady({ ...READY, position: 1000 }, first))).toBe("position_mismatch");
  });

  it("on the first ready, needs a replay buffer of two of the server's chunks", () => {
    const first = (codec: "pcm16" | "opus", capacityBytes: number): ReadyContext => ({
      ...RECONNECT,
      stage: "first",
      environment: undefined,
      codec,
      positionUnit: codec === "pcm16" ? "byte" : "packet",
      held: { start: 0, end: 0, capacityBytes },
      acked: 0,
    });
    expect(minimumReplayBytes("pcm16", 100)).toBe(200);
    expect(minimumReplayBytes("opus", 50)).toBe(2 * 50 * 4000);
    expect(outcome(checkReady(READY, first("pcm16", 200)))).toBe("ok rebase");
    expect(outcome(checkReady(READY, first("pcm16", 199)))).toBe("protocol_violation");
    const opus = { ...READY, position_unit: "packet", chunk_size: 50 } as const;
    expect(outcome(checkReady(opus, first("opus", 400_000)))).toBe("ok rebase");
    expect(outcome(checkReady(opus, first("opus", 399_999)))).toBe("protocol_violation");
    // A reconnect does not ask again: the buffer was sized on the first ready.
    expect(
      outcome(
        checkReady(READY, {
          ...first("pcm16", 1),
          stage: "reconnect",
          held: { start: 0, end: 1000, capacityBytes: 1 },
        }),
      ),
    ).toBe("ok");
  });
});
