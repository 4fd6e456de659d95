/** The events worker's edge (functions/events/event-message.ts): which event messages it accepts. */

import { parseEventMessage } from "../../functions/events/event-message";
import { parseEnvironmentName } from "../../shared/environment";
import type { EventBody } from "../../shared/messages";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import { eventMessage } from "../support/workers-messages";

const staging = parseEnvironmentName("staging");
const stream = { environment: "staging", conversationId: "conv-12345678", userId: "user-1" };
const segment = { id: "s1", start: 1, end: 2.5, text: "hi", speaker: "SPEAKER_00", is_user: true, person_id: null };

function received(
  message: { data: Buffer; attributes: Record<string, string> },
  publishTime?: string,
): ReceivedMessage {
  return { id: "m1", publishTime, orderingKey: undefined, deliveryAttempt: undefined, ...message };
}

describe("parseEventMessage", () => {
  it("accepts each event type with its socket ordinal and number (0 for finalize)", () => {
    for (const body of [
      { type: "segments" as const, segments: [segment] },
      { type: "speaker_assigned" as const, person_id: "p1", segment_ids: ["s1"] },
      { type: "finalize" as const, final_position: 320, reason: "client" as const },
    ]) {
      const parsed = parseEventMessage(
        received(eventMessage(stream, "sess-1", body, { seq: 7, sessionOrdinal: 3 }), "2030-01-02T03:04:05.678Z"),
        staging,
      );
      if (!parsed.ok) throw new Error(parsed.rejection.detail);
      expect(parsed.event.body).toEqual(body);
      expect(parsed.event.attributes.session_ordinal).toBe(3);
      expect(parsed.event.attributes.seq).toBe(body.type === "finalize" ? 0 : 7);
    }
  });

  it("rejects another environment's event as wrong_environment", () => {
    const message = eventMessage({ ...stream, environment: "prod" }, "sess-1", {
      type: "segments",
      segments: [segment],
    });
    const parsed = parseEventMessage(received(message), staging);
    expect(parsed.ok || parsed.rejection.reason).toBe("wrong_environment");
  });

  it.each([
    [
      "a body that is not JSON",
      (m: { data: Buffer; attributes: Record<string, string> }) => ({ ...m, data: Buffer.from("{") }),
    ],
    [
      "a segment ending before it starts",
      (m: { data: Buffer; attributes: Record<string, string> }) => ({
        ...m,
        data: Buffer.from(JSON.stringify({ type: "segments", segments: [{ ...segment, end: 0.5 }] })),
      }),
    ],
    [
      "an event_type that contradicts the body",
      (m: { data: Buffer; attributes: Record<string, string> }) => ({
        ...m,
        attributes: { ...m.attributes, event_type: "finalize" },
      }),
    ],
    [
      "a missing user id",
      (m: { data: Buffer; attributes: Record<string, string> }) => {
        const { user_id: _dropped, ...rest } = m.attributes;
        return { ...m, attributes: rest };
      },
    ],
  ])("rejects %s as invalid_schema", (_, corrupt) => {
    const parsed = parseEventMessage(
      received(corrupt(eventMessage(stream, "sess-1", { type: "segments", segments: [segment] }))),
      staging,
    );
    expect(parsed.ok || parsed.rejection.reason).toBe("invalid_schema");
  });
});

describe("event numbers", () => {
  it("rejects a data event numbered 0 and a finalize numbered otherwise", () => {
    const cases: Array<[EventBody, string]> = [
      [{ type: "segments", segments: [segment] }, "0"],
      [{ type: "finalize", final_position: 320, reason: "client" }, "1"],
    ];
    for (const [body, seq] of cases) {
      const message = eventMessage(stream, "sess-1", body);
      const parsed = parseEventMessage(received({ ...message, attributes: { ...message.attributes, seq } }), staging);
      expect(parsed.ok ? "accepted" : parsed.rejection.reason).toBe("invalid_schema");
    }
  });
});
