/** The conversation and segment JSON the API returns (PROTOCOL.md section 3), from stored documents. */
import { Timestamp } from "@google-cloud/firestore";
import { conversationView, segmentsView } from "../../functions/api/conversations";
import { parseEnvironmentName } from "../../shared/environment";
import type { AssignmentDoc, ConversationDoc, SegmentDoc, SessionDoc } from "../../shared/firestore-schema";

const t = (iso: string) => Timestamp.fromDate(new Date(iso));

const conversation: ConversationDoc = {
  id: "conv-12345678",
  environment: parseEnvironmentName("staging"),
  user_id: "u1",
  codec: "pcm16",
  sample_rate: 16000,
  channels: 1,
  chunk_size: 160000,
  durable_position: 320000,
  status: "finalizing",
  final_position: 320000,
  finalize_reason: "client",
  created_at: t("2030-01-01T00:00:00Z"),
  updated_at: t("2030-01-01T00:00:00Z"),
  finalized_at: null,
};

const session = (id: string, started: string, ended: string | null): SessionDoc => ({
  session_id: id,
  start_position: 0,
  started_at: t(started),
  ended_at: ended ? t(ended) : null,
  close_code: null,
});

describe("conversationView", () => {
  it("has exactly the documented fields, reports finalizing as it is and sorts sessions", () => {
    const view = conversationView(conversation, {
      sessions: [
        session("b", "2030-01-01T00:01:00Z", null),
        session("a", "2030-01-01T00:00:00Z", "2030-01-01T00:00:30Z"),
      ],
      segmentCount: 3,
      audio: { endPosition: 160000, durationMs: 5000 },
    });
    expect(view).toEqual({
      id: "conv-12345678",
      environment: "staging",
      status: "finalizing",
      codec: "pcm16",
      sample_rate: 16000,
      position: 320000,
      duration_ms: 5000,
      sessions: [
        { session_id: "a", started_at: "2030-01-01T00:00:00.000Z", ended_at: "2030-01-01T00:00:30.000Z" },
        { session_id: "b", started_at: "2030-01-01T00:01:00.000Z", ended_at: null },
      ],
      segments: 3,
      extraction: { status: "pending", people: [] },
    });
  });

  it("reports finalized, persisted audio beyond the durable position, and the extraction summary", () => {
    const view = conversationView(
      {
        ...conversation,
        status: "finalized",
        durable_position: 0,
        extraction_generation: 2,
        extraction: {
          status: "done",
          generation: 2,
          updated_at: t("2030-01-01T00:00:00Z"),
          people: [
            { person_id: "p1", status: "extracted", samples: 2 },
            { person_id: "p2", status: "skipped", reason: "too_short", detail: { seconds: 3 }, samples: 0 },
          ],
        },
      },
      { sessions: [], segmentCount: 0, audio: { endPosition: 320000, durationMs: 10000 } },
    );
    expect(view.status).toBe("finalized");
    expect(view.position).toBe(320000);
    expect(view.extraction).toEqual({
      status: "done",
      people: [
        { person_id: "p1", status: "extracted", samples: 2 },
        { person_id: "p2", status: "skipped", reason: "too_short", samples: 0 },
      ],
    });
  });

  it("answers pending while a newer extraction generation is outstanding, and failed when events were rejected", () => {
    const done = {
      ...conversation,
      status: "finalized" as const,
      extraction_generation: 3,
      extraction: { status: "done" as const, generation: 2, updated_at: t("2030-01-01T00:00:00Z"), people: [] },
    };
    const facts = { sessions: [], segmentCount: 0, audio: { endPosition: 0, durationMs: 0 } };
    expect(conversationView(done, facts).extraction.status).toBe("pending");
    expect(conversationView({ ...done, extraction_generation: 2 }, facts).extraction.status).toBe("done");
    expect(
      conversationView(
        {
          ...done,
          extraction_generation: 2,
          rejected_events: [{ session_id: "s", seq: 1, reason: "store_refused", segment_ids: ["x"] }],
        },
        facts,
      ).extraction.status,
    ).toBe("failed");
    expect(
      conversationView(
        { ...done, rejected_events: [{ session_id: "s", seq: 1, reason: "store_refused", segment_ids: ["x", "y"] }] },
        facts,
      ).rejected_segments,
    ).toEqual([
      { segment_id: "x", reason: "store_refused" },
      { segment_id: "y", reason: "store_refused" },
    ]);
    expect(conversationView(done, facts)).not.toHaveProperty("rejected_segments");
    // Not finalized yet: whatever an earlier run wrote, extraction is pending.
    expect(conversationView({ ...done, status: "finalizing", extraction_generation: 2 }, facts).extraction.status).toBe(
      "pending",
    );
  });
});

describe("segmentsView", () => {
  const seg = (id: string, start: number, end: number, session: string, person: string | null = null): SegmentDoc => ({
    id,
    start,
    end,
    text: id,
    speaker: "SPEAKER_00",
    is_user: false,
    person_id: person,
    session_id: session,
    updated_at: t("2030-01-01T00:00:00Z"),
  });
  const assignment = (segment: string, person: string): AssignmentDoc => ({
    segment_id: segment,
    person_id: person,
    session_id: "s3",
    assigned_at: t("2030-01-01T00:00:00Z"),
  });

  it("orders by start, end, then id, and applies assignments from any session over the segment's own", () => {
    const view = segmentsView(
      [seg("z", 5, 6, "s2"), seg("b", 1, 3, "s1", "own"), seg("a", 1, 3, "s1"), seg("c", 1, 2, "s1", "own")],
      [assignment("b", "p1"), assignment("a", "p2"), assignment("missing", "p9")],
    );
    expect(view.map((s) => [s.id, s.person_id])).toEqual([
      ["c", "own"],
      ["a", "p2"],
      ["b", "p1"],
      ["z", null],
    ]);
    expect(Object.keys(view[0] ?? {}).sort()).toEqual([
      "end",
      "id",
      "is_user",
      "person_id",
      "session_id",
      "speaker",
      "start",
      "text",
    ]);
  });
});
