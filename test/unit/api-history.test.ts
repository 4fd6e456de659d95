/** A conversation's history on its audio's time axis, from the records the stack keeps (functions/api/history.ts). */
import { Timestamp } from "@google-cloud/firestore";
import { type HistoryInput, historyView, positionClock } from "../../functions/api/history";
import { parseEnvironmentName } from "../../shared/environment";
import type { ConversationDoc, DeliveryDoc, SessionDoc } from "../../shared/firestore-schema";

const t = (iso: string) => Timestamp.fromDate(new Date(iso));
const SECOND = 32000; // pcm16 at 16 kHz

const conversation: ConversationDoc = {
  id: "conv-12345678",
  environment: parseEnvironmentName("staging"),
  user_id: "u1",
  codec: "pcm16",
  sample_rate: 16000,
  channels: 1,
  chunk_size: SECOND,
  durable_position: 3 * SECOND,
  status: "finalized",
  final_position: 3 * SECOND,
  finalize_reason: "client",
  created_at: t("2030-01-01T00:00:00Z"),
  updated_at: t("2030-01-01T00:00:10Z"),
  finalized_at: t("2030-01-01T00:00:10Z"),
  extraction_generation: 1,
  extraction_requested_generation: 1,
  extraction: { status: "done", generation: 1, people: [], updated_at: t("2030-01-01T00:00:12Z") },
};

const session = (id: string, start: number, started: string, code: number, goaway?: string): SessionDoc => ({
  session_id: id,
  start_position: start,
  started_at: t(started),
  ended_at: t(started),
  close_code: code,
  ...(goaway ? { goaway } : {}),
});

const chunk = (index: number, session_id: string): HistoryInput["chunks"][number] => ({
  index,
  start: index * SECOND,
  end: (index + 1) * SECOND,
  bytes: SECOND,
  session_id,
  persisted_at: t("2030-01-01T00:00:05Z"),
});

const redelivery: DeliveryDoc = {
  kind: "redelivered",
  worker: "persist-audio",
  chunk_index: 1,
  start: SECOND,
  end: 2 * SECOND,
  session_id: "s2",
  count: 1,
  first_at: t("2030-01-01T00:00:06Z"),
  last_at: t("2030-01-01T00:00:06Z"),
};

describe("historyView", () => {
  const view = historyView({
    conversation,
    sessions: [
      session("s2", SECOND, "2030-01-01T00:00:03Z", 1000),
      session("s1", 0, "2030-01-01T00:00:00Z", 4001, "max_socket_age"),
    ],
    chunks: [chunk(2, "s2"), chunk(0, "s1"), chunk(1, "s2")],
    appliedEvents: [
      { session_id: "s1", seq: 1, outcome: "applied", applied_at: t("2030-01-01T00:00:01Z") },
      { session_id: "s2", seq: 1, outcome: "rejected", reason: "bad segment", applied_at: t("2030-01-01T00:00:04Z") },
    ],
    deliveries: [redelivery],
    truncated: [],
  });

  it("places each socket on the audio it carried, with how it closed", () => {
    expect(view.sockets.map((s) => [s.session_id, s.from_s, s.to_s, s.chunks, s.bytes, s.closed_as, s.goaway])).toEqual(
      [
        ["s1", 0, 1, 1, SECOND, "superseded", "max_socket_age"],
        ["s2", 1, 3, 2, 2 * SECOND, "finalized", null],
      ],
    );
    expect(view.sockets.map((s) => [s.events_applied, s.events_rejected])).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect([view.published_s, view.stored_s, view.duration_s]).toEqual([3, 3, 3]);
  });

  it("lists every recorded step in audio order, with the notifications they published", () => {
    const kinds = view.events.map((e) => e.kind);
    expect(kinds.filter((k) => k === "chunk_stored")).toHaveLength(3);
    expect(kinds).toEqual(
      expect.arrayContaining(["handover", "redelivered", "text_rejected", "finalize", "finalized"]),
    );
    const redelivered = view.events.find((e) => e.kind === "redelivered");
    expect(redelivered).toMatchObject({ at_s: 1, to_s: 2, session_id: "s2" });
    const notifications = view.events.filter((e) => e.kind === "notification").map((e) => e.text);
    expect(notifications).toEqual([
      expect.stringContaining("conv-12345678/finalized"),
      expect.stringContaining("conv-12345678/extraction/1"),
    ]);
    const at = view.events.map((e) => e.at_s);
    expect(at).toEqual([...at].sort((a, b) => a - b));
  });
});

describe("positionClock", () => {
  it("counts opus packets by the samples of the chunks that hold them", () => {
    const opus = { codec: "opus" as const, sample_rate: 48000 as const };
    const chunks = [
      { ...chunk(0, "s"), start: 0, end: 50, samples: 48000 },
      { ...chunk(1, "s"), start: 50, end: 75, samples: 24000 },
    ];
    const clock = positionClock(opus, chunks);
    expect([clock(0), clock(25), clock(50), clock(60)]).toEqual([0, 0.5, 1, 1.2]);
  });
});
