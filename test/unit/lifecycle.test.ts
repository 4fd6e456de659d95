/** The conversation lifecycle's transitions (shared/lifecycle.ts), as pure functions. */
import * as lifecycle from "../../shared/lifecycle";

const at = (ms: number) => ({ toMillis: () => ms });

describe("the ingress's transitions", () => {
  it("records where a server-started finalize cuts, once, and only while in progress", () => {
    const intent = { finalPosition: 2100, reason: "idle_timeout" as const };
    expect(lifecycle.intendFinalize({ status: "in_progress" }, intent)).toEqual({
      final_intent: { final_position: 2100, reason: "idle_timeout" },
    });
    const recorded = {
      status: "in_progress" as const,
      final_intent: { final_position: 2100, reason: "idle_timeout" as const },
    };
    expect(lifecycle.intendFinalize(recorded, intent)).toBeUndefined();
    expect(lifecycle.withdrawFinalIntent(recorded)).toEqual({ final_intent: null });
    expect(lifecycle.withdrawFinalIntent({ status: "in_progress", final_intent: null })).toBeUndefined();
    expect(lifecycle.intendFinalize({ status: "finalizing" }, intent)).toEqual({
      refused: "not_in_progress",
      status: "finalizing",
    });
  });

  it("commits a durable position and the socket's confirmed events, and nothing when neither moved", () => {
    const doc = { status: "in_progress" as const, durable_position: 100, events_recorded: { s1: 2 } };
    expect(lifecycle.commitDurable(doc, { position: 200, sessionId: "s1", eventsConfirmed: 3 })).toEqual({
      durable_position: 200,
      "events_recorded.s1": 3,
    });
    expect(lifecycle.commitDurable(doc, { position: 100, sessionId: "s1", eventsConfirmed: 2 })).toBeUndefined();
    expect(lifecycle.commitDurable(doc, { position: 50, sessionId: "s2", eventsConfirmed: 1 })).toEqual({
      "events_recorded.s2": 1,
    });
    expect(
      lifecycle.commitDurable({ ...doc, status: "finalizing" }, { position: 300, sessionId: "s1", eventsConfirmed: 3 }),
    ).toEqual({ refused: "not_in_progress", status: "finalizing" });
  });

  it("freezes the final position and the socket's events in the one write that begins finalizing", () => {
    const update = lifecycle.beginFinalize(
      { status: "in_progress", events_recorded: { s1: 1 } },
      { finalPosition: 320, reason: "client", sessionId: "s1", eventsConfirmed: 4 },
    );
    expect(update).toEqual({
      status: "finalizing",
      durable_position: 320,
      final_position: 320,
      finalize_reason: "client",
      "events_recorded.s1": 4,
    });
    expect(
      lifecycle.beginFinalize(
        { status: "finalized" },
        { finalPosition: 1, reason: "idle_timeout", sessionId: "s", eventsConfirmed: 0 },
      ),
    ).toEqual({ refused: "not_in_progress", status: "finalized" });
  });

  it("counts text confirmed after the freeze, in the barrier while finalizing", () => {
    const late = { sessionId: "a", eventsConfirmed: 3 };
    expect(lifecycle.lateEvents({ status: "finalizing", events_recorded: { a: 2 } }, late)).toEqual({
      "events_recorded.a": 3,
    });
    expect(lifecycle.lateEvents({ status: "finalized", events_recorded: { a: 2 } }, late)).toEqual({
      "events_recorded.a": 3,
    });
    expect(lifecycle.lateEvents({ status: "finalizing", events_recorded: { a: 3 } }, late)).toBeUndefined();
    expect(lifecycle.lateEvents({ status: "in_progress" }, late)).toEqual({
      refused: "not_finalizing",
      status: "in_progress",
    });
  });

  it("orders revisions by socket ordinal, then by event number", () => {
    expect(lifecycle.eventRevision(2, 1)).toBeGreaterThan(lifecycle.eventRevision(1, 999_999));
    expect(lifecycle.eventRevision(2, 2)).toBeGreaterThan(lifecycle.eventRevision(2, 1));
    expect(lifecycle.openSession({}).fields).toEqual({ sessions_opened: 1 });
    expect(lifecycle.openSession({ sessions_opened: 4 }).fields).toEqual({ sessions_opened: 5 });
  });
});

describe("the barrier", () => {
  it("waits for every recorded event of every socket", () => {
    expect(lifecycle.recordedEvents({ b: 1, a: 2 })).toEqual([
      { sessionId: "a", seq: 1 },
      { sessionId: "a", seq: 2 },
      { sessionId: "b", seq: 1 },
    ]);
    expect(lifecycle.recordedEvents(undefined)).toEqual([]);
    expect(lifecycle.appliedEventId({ sessionId: "s1", seq: 12 })).toBe("s1:000000012");
  });

  it("flips to finalized only with every chunk and every event, starting the next extraction generation", () => {
    const doc = { status: "finalizing" as const, extraction_generation: 0 };
    expect(lifecycle.completeFinalization(doc, { missingChunks: 1, missingEvents: 0, rejected: [] })).toEqual({
      ready: false,
      waitingFor: "chunks",
      missing: 1,
    });
    expect(lifecycle.completeFinalization(doc, { missingChunks: 0, missingEvents: 2, rejected: [] })).toEqual({
      ready: false,
      waitingFor: "events",
      missing: 2,
    });
    const rejected = [{ session_id: "s", seq: 1, reason: "store_refused", segment_ids: ["x"] }];
    expect(lifecycle.completeFinalization(doc, { missingChunks: 0, missingEvents: 0, rejected })).toEqual({
      ready: true,
      generation: 1,
      update: { status: "finalized", extraction_generation: 1, rejected_events: rejected },
    });
    expect(
      lifecycle.completeFinalization({ status: "in_progress" }, { missingChunks: 0, missingEvents: 0, rejected: [] }),
    ).toEqual({ refused: "not_finalizing", status: "in_progress" });
  });
});

describe("extraction generations", () => {
  const finalized = {
    status: "finalized" as const,
    extraction_generation: 2,
    extraction_requested_generation: 2,
    extraction_generation_at: at(1_000),
  };

  it("starts a newer generation for speaker data written after the newest one began, and only then", () => {
    expect(lifecycle.dataChanged(finalized, 1_500)).toEqual({ update: { extraction_generation: 3 }, generation: 3 });
    expect(lifecycle.dataChanged(finalized, 900)).toBeUndefined();
    expect(lifecycle.dataChanged({ ...finalized, status: "finalizing" }, 1_500)).toBeUndefined();
  });

  it("knows an unrequested generation, and calls its request lost only after the grace", () => {
    const gap = { ...finalized, extraction_generation: 3 };
    expect(lifecycle.unrequestedGeneration(finalized)).toBeUndefined();
    expect(lifecycle.unrequestedGeneration(gap)).toBe(3);
    expect(lifecycle.lostRequestGeneration(gap, 1_000 + lifecycle.LOST_REQUEST_GRACE_MS - 1)).toBeUndefined();
    expect(lifecycle.lostRequestGeneration(gap, 1_000 + lifecycle.LOST_REQUEST_GRACE_MS)).toBe(3);
    expect(lifecycle.extractionRequested(gap, 3)).toEqual({ extraction_requested_generation: 3 });
    expect(lifecycle.extractionRequested(finalized, 1)).toBeUndefined();
  });

  it("lets only the newest generation record a result, and the API say done only for it", () => {
    expect(lifecycle.mayRecordExtraction(finalized, 2)).toBe(true);
    expect(lifecycle.mayRecordExtraction(finalized, 1)).toBe(false);
    expect(lifecycle.mayRecordExtraction({ ...finalized, status: "finalizing" }, 2)).toBe(false);
    const view = (extraction: { status: "pending" | "done" | "failed"; generation?: number }) =>
      lifecycle.lifecycleView({ ...finalized, extraction }).extractionStatus;
    expect(view({ status: "done", generation: 2 })).toBe("done");
    expect(view({ status: "failed", generation: 2 })).toBe("failed");
    expect(view({ status: "done", generation: 1 })).toBe("pending");
    expect(view({ status: "done" })).toBe("pending");
  });
});

describe("the bounded events_recorded", () => {
  const K = lifecycle.EVENTS_RECORDED_SOCKETS;
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `s${String(i).padStart(3, "0")}`);

  it("keeps the last K sockets; an older one's count leaves for its session document", () => {
    const order = ids(K);
    const recorded = { [order[0] as string]: 3, [order[5] as string]: 1 };
    const opened = lifecycle.openSession(
      { sessions_opened: K, events_recorded: recorded, events_recorded_order: order },
      "new",
    );
    expect(opened.fields.events_recorded_order).toEqual([...order.slice(1), "new"]);
    expect(opened.evicted).toEqual([{ sessionId: order[0], count: 3 }]);
    expect(lifecycle.openSession({ events_recorded_order: ids(3) }, "new").evicted).toEqual([]);
  });

  it("stays bounded whatever the number of reconnects, and the barrier still counts every socket", () => {
    let doc: { sessions_opened?: number; events_recorded: Record<string, number>; events_recorded_order?: string[] } = {
      events_recorded: {},
    };
    const moved: Array<{ sessionId: string; count: number }> = [];
    for (const id of ids(200)) {
      const opened = lifecycle.openSession(doc, id);
      moved.push(...opened.evicted);
      const events_recorded = { ...doc.events_recorded, [id]: 2 };
      for (const { sessionId } of opened.evicted) delete events_recorded[sessionId];
      doc = { ...opened.fields, events_recorded };
      expect(Object.keys(doc.events_recorded).length).toBeLessThanOrEqual(K);
      expect(doc.events_recorded_order?.length).toBeLessThanOrEqual(K);
    }
    const all = lifecycle.allEventsRecorded(doc.events_recorded, moved);
    expect(Object.keys(all)).toHaveLength(200);
    expect(lifecycle.recordedEvents(all)).toHaveLength(400);
  });

  it("moves a record's unordered entries (from before the order existed) out first", () => {
    const opened = lifecycle.openSession(
      { events_recorded: Object.fromEntries(ids(K + 1).map((id) => [id, 1])) },
      "new",
    );
    expect(opened.evicted.map((e) => e.sessionId)).toEqual(ids(2));
    expect(opened.fields.events_recorded_order).toEqual([...ids(K + 1).slice(2), "new"]);
  });
});
