/**
 * The idle timer of a live conversation: audio pushes the deadline back without touching
 * timers; with a socket attached, the socket finalizes; nothing else happens early.
 */
import { Timestamp } from "@google-cloud/firestore";
import type { ConversationStore } from "../../functions/ingress/conversation-store";
import { type AttachedSocket, type FinalizeReason, LiveConversation } from "../../functions/ingress/live-conversation";
import type { IngressPublisher } from "../../functions/ingress/publisher";
import { createLogger } from "../../shared/logger";

function conversation(idleTimeoutMs: number, now: () => number) {
  const opened = {
    conversationId: "conv-idle-1",
    userId: "u1",
    codec: "pcm16" as const,
    sampleRate: 16000 as const,
    chunkSize: 1000,
    durablePosition: 0,
    sessionOrdinal: 1,
    created: true,
    updateTime: Timestamp.now(),
  };
  const live = new LiveConversation(opened, "s1", {
    // Never reached on these paths: the attached socket finalizes.
    store: {} as ConversationStore,
    publisher: {} as IngressPublisher,
    logger: createLogger({ level: "silent" }),
    environment: "dev",
    idleTimeoutMs,
    onGone: () => undefined,
    now,
  });
  const finalized: FinalizeReason[] = [];
  const socket: AttachedSocket = {
    sessionId: "s1",
    finalize: async (reason) => {
      finalized.push(reason);
    },
    supersede: async () => undefined,
    settled: async () => undefined,
    eventsConfirmed: () => 0,
    abandoned: () => false,
  };
  live.attach(socket, opened);
  return { live, finalized };
}

describe("LiveConversation idle timeout", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("finalizes through the attached socket once no audio arrived for the timeout", () => {
    const { finalized } = conversation(1000, () => Date.now());
    jest.advanceTimersByTime(999);
    expect(finalized).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(finalized).toEqual(["idle_timeout"]);
  });

  it("restarts the clock on audio", () => {
    const { live, finalized } = conversation(1000, () => Date.now());
    jest.advanceTimersByTime(800);
    live.touch();
    jest.advanceTimersByTime(800);
    expect(finalized).toEqual([]);
    live.touch();
    jest.advanceTimersByTime(999);
    expect(finalized).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(finalized).toEqual(["idle_timeout"]);
  });

  it("stops its timer when released (shutdown)", () => {
    const { live, finalized } = conversation(1000, () => Date.now());
    live.release();
    jest.advanceTimersByTime(5000);
    expect(finalized).toEqual([]);
  });
});
