/**
 * Which conversation records a sweep acts on: in progress and unwritten for idle timeout +
 * grace (finalize), finalizing and unwritten for the grace (re-publish), nothing this
 * instance serves, and never a record it cannot trust.
 */
import { Timestamp } from "@google-cloud/firestore";
import type { ListedConversation, StoredConversation } from "../../functions/ingress/conversation-store";
import { type SweepRules, sweepAction } from "../../functions/ingress/orphan-sweeper";

const NOW = 1_700_000_000_000;
const RULES: SweepRules = { environment: "dev", idleTimeoutMs: 120_000, graceMs: 30_000 };

function listed(fields: Partial<StoredConversation> & { quietMs: number }): ListedConversation {
  const { quietMs, ...rest } = fields;
  const record: StoredConversation = {
    environment: "dev",
    user_id: "u1",
    codec: "pcm16",
    sample_rate: 16000,
    chunk_size: 160_000,
    durable_position: 320_000,
    status: "in_progress",
    final_position: null,
    finalize_reason: null,
    active_session: "s-owner",
    updated_at: Timestamp.fromMillis(NOW - quietMs),
    ...rest,
  };
  return { conversationId: "conv-1", updateTime: Timestamp.fromMillis(NOW), record: { ok: true, value: record } };
}

describe("sweepAction: in progress", () => {
  it("finalizes once the record went unwritten for the idle timeout plus the grace", () => {
    expect(sweepAction(listed({ quietMs: 150_000 }), NOW, false, RULES)).toEqual({ kind: "finalize" });
    expect(sweepAction(listed({ quietMs: 400_000 }), NOW, false, RULES)).toEqual({ kind: "finalize" });
  });

  it("leaves a record written within the idle timeout plus the grace", () => {
    expect(sweepAction(listed({ quietMs: 149_999 }), NOW, false, RULES)).toEqual({ kind: "skip", why: "recent" });
    expect(sweepAction(listed({ quietMs: 121_000 }), NOW, false, RULES)).toEqual({ kind: "skip", why: "recent" });
  });

  it("leaves a conversation this instance serves to its own idle timer", () => {
    expect(sweepAction(listed({ quietMs: 400_000 }), NOW, true, RULES)).toEqual({ kind: "skip", why: "held_here" });
  });

  it("falls back to the document's update time when `updated_at` is missing", () => {
    const base = listed({ quietMs: 0, updated_at: undefined });
    const old = { ...base, updateTime: Timestamp.fromMillis(NOW - 200_000) };
    expect(sweepAction(old, NOW, false, RULES)).toEqual({ kind: "finalize" });
    expect(sweepAction(base, NOW, false, RULES)).toEqual({ kind: "skip", why: "recent" });
  });
});

describe("sweepAction: finalizing", () => {
  const finalizing = { status: "finalizing" as const, final_position: 320_000, finalize_reason: "client" as const };

  it("re-publishes with the recorded final position and reason once unwritten for the grace", () => {
    expect(sweepAction(listed({ ...finalizing, quietMs: 30_000 }), NOW, false, RULES)).toEqual({
      kind: "republish",
      finalPosition: 320_000,
      reason: "client",
    });
  });

  it("leaves a finalize that may still be under way", () => {
    expect(sweepAction(listed({ ...finalizing, quietMs: 29_999 }), NOW, false, RULES)).toEqual({
      kind: "skip",
      why: "recent",
    });
    expect(sweepAction(listed({ ...finalizing, quietMs: 60_000 }), NOW, true, RULES)).toEqual({
      kind: "skip",
      why: "held_here",
    });
  });

  it("reports a finalizing record without a final position instead of inventing one", () => {
    const action = sweepAction(listed({ ...finalizing, final_position: null, quietMs: 60_000 }), NOW, false, RULES);
    expect(action.kind).toBe("invalid");
  });
});

describe("sweepAction: records it cannot trust", () => {
  it("reports a malformed record", () => {
    const malformed: ListedConversation = {
      conversationId: "conv-2",
      updateTime: Timestamp.fromMillis(NOW - 999_000),
      record: { ok: false, problem: "durable_position Expected number" },
    };
    expect(sweepAction(malformed, NOW, false, RULES)).toEqual({
      kind: "invalid",
      problem: "malformed record: durable_position Expected number",
    });
  });

  it("never touches a record of another environment", () => {
    const action = sweepAction(listed({ environment: "prod", quietMs: 999_000 }), NOW, false, RULES);
    expect(action).toEqual({ kind: "invalid", problem: "the record belongs to environment prod" });
  });
});
